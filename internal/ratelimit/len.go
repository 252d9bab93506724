package ratelimit

// Len is how many keys the Limiter remembers, for the metrics of its memory
// (handoff_pending). It takes each shard's lock in turn, so it is for a
// scrape now and then, not for every request.
func (l *Limiter[K]) Len() int {
	n := 0
	for i := range int(l.used) {
		s := &l.shards[i]
		s.mu.Lock()
		n += s.lru.Len()
		s.mu.Unlock()
	}
	return n
}
