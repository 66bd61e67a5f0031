package dataplane

import (
	"reflect"
	"time"
)

// Deep equality and deep copies of config values, for the route cache (routecache.go):
// a reload compares every route of the new config with the one the serving graph was
// built from (reflect.DeepEqual), and keeps a private copy of each route it compiles so
// that a caller who modifies a config it applied cannot change what the cache compares
// against. Both follow the types by reflection, so fields added to proxy/config are
// compared and copied without changes here.
//
// A type that cannot be copied faithfully (an interface, func or channel, or a struct
// with unexported fields other than time.Time) makes the value not copyable, and the
// caller does not cache it.

// deepOps are the deep operations on T.
type deepOps[T any] struct{}

// equal reports whether *a and *b are deeply equal (nil and empty differ).
func (deepOps[T]) equal(a, b *T) bool { return reflect.DeepEqual(*a, *b) }

// clone returns a deep copy of *v, or false if T cannot be copied.
func (deepOps[T]) clone(v *T) (T, bool) {
	var c T
	if !deepCopy(reflect.ValueOf(&c).Elem(), reflect.ValueOf(v).Elem()) {
		var zero T
		return zero, false
	}
	return c, true
}

var timeType = reflect.TypeFor[time.Time]()

// deepCopy sets dst (settable, of src's type) to a copy of src that shares nothing
// mutable with it, and reports false if src's type holds something it cannot copy.
func deepCopy(dst, src reflect.Value) bool {
	switch src.Kind() {
	case reflect.Pointer:
		if src.IsNil() {
			return true
		}
		p := reflect.New(src.Type().Elem())
		if !deepCopy(p.Elem(), src.Elem()) {
			return false
		}
		dst.Set(p)
	case reflect.Slice:
		if src.IsNil() {
			return true
		}
		s := reflect.MakeSlice(src.Type(), src.Len(), src.Len())
		for i := range src.Len() {
			if !deepCopy(s.Index(i), src.Index(i)) {
				return false
			}
		}
		dst.Set(s)
	case reflect.Array:
		for i := range src.Len() {
			if !deepCopy(dst.Index(i), src.Index(i)) {
				return false
			}
		}
	case reflect.Map:
		if src.IsNil() {
			return true
		}
		m := reflect.MakeMapWithSize(src.Type(), src.Len())
		for it := src.MapRange(); it.Next(); {
			k, v := reflect.New(src.Type().Key()).Elem(), reflect.New(src.Type().Elem()).Elem()
			if !deepCopy(k, it.Key()) || !deepCopy(v, it.Value()) {
				return false
			}
			m.SetMapIndex(k, v)
		}
		dst.Set(m)
	case reflect.Struct:
		if src.Type() == timeType {
			dst.Set(src) // immutable; its location is shared, as time.Time copies do
			return true
		}
		for i := range src.NumField() {
			if !src.Type().Field(i).IsExported() {
				return false
			}
			if !deepCopy(dst.Field(i), src.Field(i)) {
				return false
			}
		}
	case reflect.Interface, reflect.Func, reflect.Chan, reflect.UnsafePointer:
		return false
	default: // bools, numbers, strings
		dst.Set(src)
	}
	return true
}
