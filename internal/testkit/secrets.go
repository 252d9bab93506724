package testkit

import (
	"strings"
	"sync"
)

// Secrets collects every value that must never reach a log or an error
// page (SECURITY.md property 1): client secrets, seal keys, codes, tokens,
// verifiers, read keys and states. A nil *Secrets collects nothing.
type Secrets struct {
	mu   sync.Mutex
	vals []string
}

// Add keeps the non-empty values.
func (s *Secrets) Add(vs ...string) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range vs {
		if v != "" {
			s.vals = append(s.vals, v)
		}
	}
}

// All returns the values kept so far.
func (s *Secrets) All() []string {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.vals...)
}

// LeakWindow is the length of the pieces of a secret Leaks looks for: a leak
// of any 16 consecutive characters of one (a truncated token, half a
// state) counts.
const LeakWindow = 16

// Leaks returns the secrets of which text holds any LeakWindow characters
// in a row (or the whole secret, when it is shorter).
func (s *Secrets) Leaks(text string) []string {
	var found []string
	for _, v := range s.All() {
		if len(v) <= LeakWindow {
			if strings.Contains(text, v) {
				found = append(found, v)
			}
			continue
		}
		for i := 0; i+LeakWindow <= len(v); i++ {
			if strings.Contains(text, v[i:i+LeakWindow]) {
				found = append(found, v)
				break
			}
		}
	}
	return found
}
