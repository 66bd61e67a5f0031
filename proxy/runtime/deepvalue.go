package runtime

import (
	"reflect"
	"sync"
	"time"
	"unsafe"
)

// Deep equality and deep copies of config values, for the route cache (routecache.go).
// A reload compares every route of the new config with the one the serving graph was
// built from, so this has to be cheap: per type, a plan built once by reflection lists
// what to compare at which offset; comparing then walks memory. Plans follow the types,
// so fields added to proxy/config are compared and copied without changes here.
//
// Equality is content identity: the same strings, numbers bit for bit, the same nil-ness
// of pointers, slices and maps (nil and empty differ, as for reflect.DeepEqual), times
// compared with == (instant and location pointer). Two values it calls equal compile to
// the same thing; it may call values with the same meaning different (then they are
// compiled again), never the reverse. Types it cannot copy faithfully (interfaces, funcs, channels,
// structs with unexported fields other than time.Time) make the value not copyable, and
// the caller does not cache it.

type vkind uint8

const (
	vOther  vkind = iota // compared with reflect.DeepEqual, not copyable
	vScalar              // bools and numbers: bit equality
	vString
	vStruct
	vPtr
	vSlice
	vMap
	vTime // time.Time: == (same instant, same location pointer)
)

type vplan struct {
	kind   vkind
	typ    reflect.Type
	size   uintptr
	elem   *vplan   // vPtr, vSlice, vMap (value)
	key    *vplan   // vMap
	fields []vfield // vStruct
	// ops are the comparisons of a vStruct, nested structs flattened.
	ops      []vop
	copyable bool
	// flat: no pointers inside, so a copy of the memory is a deep copy.
	flat bool
	// empty is the data pointer of an empty, non-nil slice.
	empty unsafe.Pointer
}

type vfield struct {
	off  uintptr
	plan *vplan
}

type vop struct {
	off  uintptr
	kind vkind
	size uintptr
	plan *vplan
}

var (
	vplansMu sync.Mutex
	vplans   = map[reflect.Type]*vplan{}
)

// planFor returns the plan of t.
func planFor(t reflect.Type) *vplan {
	vplansMu.Lock()
	defer vplansMu.Unlock()
	return buildVPlan(t, map[reflect.Type]bool{})
}

func buildVPlan(t reflect.Type, inProgress map[reflect.Type]bool) *vplan {
	if p := vplans[t]; p != nil {
		return p
	}
	p := &vplan{typ: t, size: t.Size()}
	if inProgress[t] {
		// A recursive type: compare it with reflect.DeepEqual, do not copy.
		return p
	}
	inProgress[t] = true
	defer delete(inProgress, t)
	if t == reflect.TypeFor[time.Time]() {
		// The location is shared, as time.Time copies do.
		p.kind, p.copyable, p.flat = vTime, true, true
		vplans[t] = p
		return p
	}
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128:
		p.kind, p.copyable, p.flat = vScalar, true, true
	case reflect.String:
		// Strings are immutable: a copy shares them.
		p.kind, p.copyable, p.flat = vString, true, true
	case reflect.Pointer:
		p.elem = buildVPlan(t.Elem(), inProgress)
		p.kind, p.copyable = vPtr, p.elem.copyable
	case reflect.Slice:
		p.elem = buildVPlan(t.Elem(), inProgress)
		p.kind, p.copyable = vSlice, p.elem.copyable
		p.empty = reflect.MakeSlice(t, 0, 0).UnsafePointer()
	case reflect.Map:
		p.key, p.elem = buildVPlan(t.Key(), inProgress), buildVPlan(t.Elem(), inProgress)
		p.kind, p.copyable = vMap, p.key.flat && p.elem.copyable
	case reflect.Struct:
		p.kind, p.copyable, p.flat = vStruct, true, true
		for i := 0; i < t.NumField(); i++ {
			sf := t.Field(i)
			if !sf.IsExported() {
				// Someone else's invariants: compare deeply, do not copy.
				p.kind, p.fields, p.copyable, p.flat = vOther, nil, false, false
				break
			}
			fp := buildVPlan(sf.Type, inProgress)
			p.fields = append(p.fields, vfield{off: sf.Offset, plan: fp})
			p.copyable = p.copyable && fp.copyable
			p.flat = p.flat && fp.flat
			if fp.kind == vStruct {
				for _, op := range fp.ops {
					op.off += sf.Offset
					p.ops = append(p.ops, op)
				}
			} else {
				p.ops = append(p.ops, vop{off: sf.Offset, kind: fp.kind, size: fp.size, plan: fp})
			}
		}
	}
	vplans[t] = p
	return p
}

// equalAt reports whether the values of p's type at a and b are equal.
func equalAt(a, b unsafe.Pointer, p *vplan) bool {
	if a == b {
		return true
	}
	switch p.kind {
	case vString:
		return *(*string)(a) == *(*string)(b)
	case vScalar:
		switch p.size {
		case 1:
			return *(*uint8)(a) == *(*uint8)(b)
		case 2:
			return *(*uint16)(a) == *(*uint16)(b)
		case 4:
			return *(*uint32)(a) == *(*uint32)(b)
		case 8:
			return *(*uint64)(a) == *(*uint64)(b)
		case 16:
			return *(*[2]uint64)(a) == *(*[2]uint64)(b)
		}
	case vStruct:
		// The common kinds inline; this loop is most of a reload's comparisons.
		for i := range p.ops {
			op := &p.ops[i]
			fa, fb := unsafe.Add(a, op.off), unsafe.Add(b, op.off)
			switch op.kind {
			case vString:
				if *(*string)(fa) != *(*string)(fb) {
					return false
				}
			case vPtr:
				pa, pb := *(*unsafe.Pointer)(fa), *(*unsafe.Pointer)(fb)
				if pa != pb && (pa == nil || pb == nil || !equalAt(pa, pb, op.plan.elem)) {
					return false
				}
			case vSlice:
				sa, sb := (*sliceHeader)(fa), (*sliceHeader)(fb)
				if sa.len != sb.len || (sa.data == nil) != (sb.data == nil) {
					return false
				}
				if sa.len > 0 && !equalAt(fa, fb, op.plan) {
					return false
				}
			case vScalar:
				if op.size == 8 {
					if *(*uint64)(fa) != *(*uint64)(fb) {
						return false
					}
				} else if !equalAt(fa, fb, op.plan) {
					return false
				}
			default:
				if !equalAt(fa, fb, op.plan) {
					return false
				}
			}
		}
		return true
	case vPtr:
		pa, pb := *(*unsafe.Pointer)(a), *(*unsafe.Pointer)(b)
		if pa == nil || pb == nil {
			return pa == pb
		}
		return equalAt(pa, pb, p.elem)
	case vSlice:
		sa, sb := (*sliceHeader)(a), (*sliceHeader)(b)
		if sa.len != sb.len || (sa.data == nil) != (sb.data == nil) {
			return false
		}
		if sa.data == sb.data {
			return true
		}
		size := p.elem.size
		for i := 0; i < sa.len; i++ {
			off := uintptr(i) * size
			if !equalAt(unsafe.Add(sa.data, off), unsafe.Add(sb.data, off), p.elem) {
				return false
			}
		}
		return true
	case vTime:
		return *(*time.Time)(a) == *(*time.Time)(b)
	case vMap:
		ma, mb := reflect.NewAt(p.typ, a).Elem(), reflect.NewAt(p.typ, b).Elem()
		if ma.IsNil() != mb.IsNil() || ma.Len() != mb.Len() {
			return false
		}
		it := ma.MapRange()
		for it.Next() {
			vb := mb.MapIndex(it.Key())
			if !vb.IsValid() {
				return false
			}
			va := reflect.New(p.elem.typ)
			va.Elem().Set(it.Value())
			vbp := reflect.New(p.elem.typ)
			vbp.Elem().Set(vb)
			if !equalAt(va.UnsafePointer(), vbp.UnsafePointer(), p.elem) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(reflect.NewAt(p.typ, a).Elem().Interface(), reflect.NewAt(p.typ, b).Elem().Interface())
}

type sliceHeader struct {
	data     unsafe.Pointer
	len, cap int
}

// deepen replaces, in the value at ptr (a shallow copy), everything reached through a
// pointer, slice or map with a copy, so the value shares no mutable memory with the
// original. p must be copyable.
func deepen(ptr unsafe.Pointer, p *vplan) {
	if p.flat {
		return
	}
	switch p.kind {
	case vStruct:
		for i := range p.fields {
			f := &p.fields[i]
			if !f.plan.flat {
				deepen(unsafe.Add(ptr, f.off), f.plan)
			}
		}
	case vPtr:
		old := *(*unsafe.Pointer)(ptr)
		if old == nil {
			return
		}
		n := reflect.New(p.elem.typ)
		n.Elem().Set(reflect.NewAt(p.elem.typ, old).Elem())
		deepen(n.UnsafePointer(), p.elem)
		*(*unsafe.Pointer)(ptr) = n.UnsafePointer()
	case vSlice:
		s := (*sliceHeader)(ptr)
		if s.data == nil {
			return
		}
		if s.len == 0 {
			*s = sliceHeader{data: p.empty}
			return
		}
		n := reflect.MakeSlice(p.typ, s.len, s.len)
		reflect.Copy(n, reflect.NewAt(p.typ, ptr).Elem())
		data := n.UnsafePointer()
		if !p.elem.flat {
			for i := 0; i < s.len; i++ {
				deepen(unsafe.Add(data, uintptr(i)*p.elem.size), p.elem)
			}
		}
		*s = sliceHeader{data: data, len: s.len, cap: s.len}
	case vMap:
		m := reflect.NewAt(p.typ, ptr).Elem()
		if m.IsNil() {
			return
		}
		n := reflect.MakeMapWithSize(p.typ, m.Len())
		it := m.MapRange()
		for it.Next() {
			v := reflect.New(p.elem.typ)
			v.Elem().Set(it.Value())
			deepen(v.UnsafePointer(), p.elem)
			n.SetMapIndex(it.Key(), v.Elem())
		}
		m.Set(n)
	}
}

// typedPlan is the plan of T, built once.
type typedPlan[T any] struct {
	once sync.Once
	p    *vplan
}

func (tp *typedPlan[T]) get() *vplan {
	tp.once.Do(func() { tp.p = planFor(reflect.TypeFor[T]()) })
	return tp.p
}

// equal reports whether *a and *b are deeply equal.
func (tp *typedPlan[T]) equal(a, b *T) bool {
	return equalAt(unsafe.Pointer(a), unsafe.Pointer(b), tp.get())
}

// clone returns a deep copy of *v, or false if T cannot be copied.
func (tp *typedPlan[T]) clone(v *T) (T, bool) {
	p := tp.get()
	if !p.copyable {
		var zero T
		return zero, false
	}
	c := *v
	deepen(unsafe.Pointer(&c), p)
	return c, true
}
