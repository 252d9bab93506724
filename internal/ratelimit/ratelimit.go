// Package ratelimit counts requests per key in bounded memory.
//
// Two policies share one structure. A Bucket gives each key a token bucket of
// limit requests refilled over the window, kept as one timestamp (the generic
// cell rate algorithm): a client that never sends more than limit requests in
// any window is never refused, whatever their spacing, which is what a
// plugin polling on a timer needs. A Window estimates the requests of the
// last window from the current and previous fixed windows (a sliding window
// counter): a client is refused once it has sent about limit requests in the
// last window, however it spreads them, which is what a ceiling per client
// IP means. Keys live in sharded LRUs, so the memory is capped and a flood of
// distinct keys evicts the oldest instead of growing.
package ratelimit

import (
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

const shards = 64

// Limiter decides, per key, whether one more request is allowed.
type Limiter[K comparable] struct {
	limit   int64
	window  int64 // nanoseconds
	sliding bool
	shardOf func(K) uint8
	now     func() time.Time
	used    uint8 // shards in use: capacity may be below the number of shards
	shards  [shards]shard[K]
}

type shard[K comparable] struct {
	mu  sync.Mutex
	lru *simplelru.LRU[K, counter]
}

// counter is a key's state. A Bucket uses at (the theoretical arrival time,
// unix nanoseconds); a Window uses at as the start of the current fixed
// window and counts its requests and the previous window's.
type counter struct {
	at         int64
	curr, prev int32
}

// NewBucket returns a token-bucket Limiter: limit requests per window and
// key, never refusing a client that stays within limit in every window.
// It remembers at most capacity keys; shardOf spreads keys over the internal
// locks (any well-mixed byte of the key will do).
func NewBucket[K comparable](limit int, window time.Duration, capacity int, shardOf func(K) uint8) *Limiter[K] {
	return newLimiter(limit, window, capacity, shardOf, false)
}

// NewWindow returns a sliding-window Limiter: about limit requests in any
// window per key.
func NewWindow[K comparable](limit int, window time.Duration, capacity int, shardOf func(K) uint8) *Limiter[K] {
	return newLimiter(limit, window, capacity, shardOf, true)
}

func newLimiter[K comparable](limit int, window time.Duration, capacity int, shardOf func(K) uint8, sliding bool) *Limiter[K] {
	if limit < 1 || window <= 0 || capacity < 1 {
		panic("ratelimit: limit, window and capacity must be positive")
	}
	// Fewer shards than keys would let the per-shard minimum of one key
	// exceed the capacity.
	used := min(shards, capacity)
	l := &Limiter[K]{limit: int64(limit), window: int64(window), sliding: sliding, shardOf: shardOf, now: time.Now, used: uint8(used)}
	for i := 0; i < used; i++ {
		l.shards[i].lru, _ = simplelru.NewLRU[K, counter](capacity/used, nil) // size > 0: no error
	}
	return l
}

// Allow records a request for key and reports whether it is within the limit.
// A refused request spends nothing, so a client that backs off recovers.
func (l *Limiter[K]) Allow(key K) bool {
	now := l.now().UnixNano()
	s := &l.shards[l.shardOf(key)%l.used]
	s.mu.Lock()
	defer s.mu.Unlock()
	c, _ := s.lru.Get(key)
	var ok bool
	if l.sliding {
		c, ok = l.slide(c, now)
	} else {
		c, ok = l.bucket(c, now)
	}
	if ok {
		s.lru.Add(key, c)
	}
	return ok
}

func (l *Limiter[K]) bucket(c counter, now int64) (counter, bool) {
	interval := l.window / l.limit
	tat := max(c.at, now)
	if tat-now > l.window-interval {
		return c, false
	}
	c.at = tat + interval
	return c, true
}

func (l *Limiter[K]) slide(c counter, now int64) (counter, bool) {
	start := now - now%l.window
	switch {
	case c.at == start:
	case c.at == start-l.window:
		c.at, c.prev, c.curr = start, c.curr, 0
	default: // new key, or idle for more than a window
		c.at, c.prev, c.curr = start, 0, 0
	}
	// The previous window counts for the part of it still inside the
	// sliding window that ends now.
	weight := float64(l.window-(now-start)) / float64(l.window)
	if float64(c.prev)*weight+float64(c.curr) >= float64(l.limit) {
		return c, false
	}
	c.curr++
	return c, true
}

// StringShard spreads string keys, such as client IPs, with FNV-1a.
func StringShard(s string) uint8 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return uint8(h ^ h>>8 ^ h>>16 ^ h>>24)
}
