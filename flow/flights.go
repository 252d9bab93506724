package flow

import (
	"sync"
	"sync/atomic"
)

// flights lets concurrent calls with the same key share one run of a
// function and its result, as golang.org/x/sync/singleflight does; this is
// the few lines handoff needs, without a dependency. Keys are SHA-256 sums,
// never a token. Sharded like the broker's login locks: no lock for every
// refresh of every user.
type flights struct {
	shards [16]struct {
		mu sync.Mutex
		m  map[[32]byte]*flight
	}
	// shared counts the calls that waited for another's run instead of
	// making their own.
	shared atomic.Int64
}

type flight struct {
	done chan struct{}
	body []byte
	err  error
}

// do runs fn for key unless a run for key is in progress, in which case it
// waits for that run and returns its result. The result is shared: callers
// must not modify body.
func (f *flights) do(key [32]byte, fn func() ([]byte, error)) ([]byte, error) {
	s := &f.shards[key[0]%byte(len(f.shards))]
	s.mu.Lock()
	if c, ok := s.m[key]; ok {
		s.mu.Unlock()
		f.shared.Add(1)
		<-c.done
		return c.body, c.err
	}
	if s.m == nil {
		s.m = map[[32]byte]*flight{}
	}
	c := &flight{done: make(chan struct{})}
	s.m[key] = c
	s.mu.Unlock()

	// Deferred, so that waiters are released even if fn panics.
	defer func() {
		s.mu.Lock()
		delete(s.m, key)
		s.mu.Unlock()
		close(c.done)
	}()
	c.err = errFlightAborted // what waiters see if fn panics
	c.body, c.err = fn()
	return c.body, c.err
}

var errFlightAborted = fail(KindProviderFailed, "server_error", "the request to the provider failed")
