// Package roundtrip holds the serialization round-trip tests of every API type in apis/.
package roundtrip
