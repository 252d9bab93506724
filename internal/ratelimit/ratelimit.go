// Package ratelimit counts requests per key in bounded memory.
//
// Each key gets a token bucket of Limit requests refilled over Window, kept as
// one timestamp (the generic cell rate algorithm). A client that never sends
// more than Limit requests in any Window is never refused, whatever their
// spacing; a burst beyond that is. Keys live in sharded LRUs, so the memory is
// capped and a flood of distinct keys evicts the oldest instead of growing.
package ratelimit

import (
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

const shards = 64

// Limiter decides, per key, whether one more request is allowed.
type Limiter[K comparable] struct {
	interval  time.Duration // time to earn one request back
	tolerance time.Duration // how far ahead of now the bucket may be spent
	shardOf   func(K) uint8
	now       func() time.Time
	shards    [shards]shard[K]
}

type shard[K comparable] struct {
	mu  sync.Mutex
	lru *simplelru.LRU[K, int64] // key -> theoretical arrival time, unix nanos
}

// New returns a Limiter allowing limit requests per window for each key,
// remembering at most capacity keys. shardOf spreads keys over the internal
// locks; any well-mixed byte of the key will do.
func New[K comparable](limit int, window time.Duration, capacity int, shardOf func(K) uint8) *Limiter[K] {
	if limit < 1 || window <= 0 || capacity < 1 {
		panic("ratelimit: limit, window and capacity must be positive")
	}
	interval := window / time.Duration(limit)
	l := &Limiter[K]{
		interval:  interval,
		tolerance: window - interval,
		shardOf:   shardOf,
		now:       time.Now,
	}
	per := max(capacity/shards, 1)
	for i := range l.shards {
		l.shards[i].lru, _ = simplelru.NewLRU[K, int64](per, nil) // size > 0: no error
	}
	return l
}

// Allow records a request for key and reports whether it is within the limit.
// A refused request does not spend anything, so a client that backs off
// recovers at the configured rate.
func (l *Limiter[K]) Allow(key K) bool {
	now := l.now().UnixNano()
	s := &l.shards[l.shardOf(key)%shards]
	s.mu.Lock()
	defer s.mu.Unlock()
	tat, ok := s.lru.Get(key)
	if !ok || tat < now {
		tat = now
	}
	if tat-now > int64(l.tolerance) {
		return false
	}
	s.lru.Add(key, tat+int64(l.interval))
	return true
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
