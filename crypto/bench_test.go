package crypto_test

import (
	"testing"
)

func BenchmarkSeal(b *testing.B) {
	s := newSealer(b, testKey(1))
	pt := payload(60)
	b.ReportAllocs()
	for b.Loop() {
		s.Seal(pt, adState)
	}
}

func BenchmarkOpen(b *testing.B) {
	s := newSealer(b, testKey(1))
	sealed := s.Seal(payload(60), adState)
	dst := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := s.Open(dst, sealed, adState); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpenOldKey(b *testing.B) {
	s := newSealer(b, testKey(2), testKey(1))
	sealed := newSealer(b, testKey(1)).Seal(payload(60), adState)
	dst := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := s.Open(dst, sealed, adState); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOpenInvalid measures the cost of refusing a well-formed forgery,
// the most expensive refusal: it gets as far as the tag check.
func BenchmarkOpenInvalid(b *testing.B) {
	s := newSealer(b, testKey(1))
	sealed := newSealer(b, testKey(2)).Seal(payload(60), adState)
	dst := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := s.Open(dst, sealed, adState); err == nil {
			b.Fatal("opened")
		}
	}
}
