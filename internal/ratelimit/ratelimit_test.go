package ratelimit

import (
	"fmt"
	"testing"
	"time"
)

// clock is a fake time source the tests move by hand.
type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newTest(sliding bool, limit int, window time.Duration, capacity int) (*Limiter[string], *clock) {
	c := &clock{t: time.Unix(1_000_000, 0)}
	l := newLimiter(limit, window, capacity, StringShard, sliding)
	l.now = c.now
	return l, c
}

// allowedOf sends n requests for key at once and counts those allowed.
func allowedOf(l *Limiter[string], key string, n int) int {
	allowed := 0
	for range n {
		if l.Allow(key) {
			allowed++
		}
	}
	return allowed
}

func TestBucketNeverRefusesWithinLimit(t *testing.T) {
	for _, spacing := range []time.Duration{0, time.Millisecond, 99 * time.Millisecond, 100 * time.Millisecond, time.Second} {
		t.Run(fmt.Sprint(spacing), func(t *testing.T) {
			l, c := newTest(false, 10, time.Second, 100)
			// Bursts of 10 at the start of each second: 10 in any second.
			for sec := 0; sec < 5; sec++ {
				start := c.t
				for i := 0; i < 10; i++ {
					if !l.Allow("k") {
						t.Fatalf("second %d request %d refused", sec, i)
					}
					if spacing < 100*time.Millisecond {
						c.advance(spacing)
					}
				}
				c.t = start.Add(time.Second)
			}
		})
	}
}

func TestBucketRefusesBurst(t *testing.T) {
	l, c := newTest(false, 10, time.Second, 100)
	for i := 0; i < 10; i++ {
		if !l.Allow("k") {
			t.Fatalf("request %d refused", i)
		}
	}
	if l.Allow("k") {
		t.Fatal("11th request in the same instant allowed")
	}
	if !l.Allow("other") {
		t.Fatal("another key was refused")
	}
	c.advance(100 * time.Millisecond)
	if !l.Allow("k") {
		t.Fatal("a request after one interval was refused")
	}
}

func TestBucketPollingOncePerSecond(t *testing.T) {
	l, c := newTest(false, 10, time.Second, 100)
	for i := 0; i < 600; i++ {
		if !l.Allow("k") {
			t.Fatalf("poll %d refused", i)
		}
		c.advance(time.Second)
	}
}

// The sliding window counter assumes the previous window's requests were
// spread evenly, so its ceiling is approximate: these tests align the clock
// with the fixed windows and allow for that.

func TestWindowCeiling(t *testing.T) {
	l, c := newTest(true, 300, time.Minute, 100)
	c.t = c.t.Truncate(time.Minute)
	allowed := 0
	// 10 requests a second for two minutes: about 300 a minute get through.
	for i := 0; i < 1200; i++ {
		if l.Allow("ip") {
			allowed++
		}
		c.advance(100 * time.Millisecond)
	}
	if allowed < 550 || allowed > 650 {
		t.Fatalf("allowed %d of 1200 over two minutes, want about 600", allowed)
	}
}

func TestWindowBurst(t *testing.T) {
	l, c := newTest(true, 300, time.Minute, 100)
	c.t = c.t.Truncate(time.Minute).Add(30 * time.Second)
	for i := 0; i < 300; i++ {
		if !l.Allow("ip") {
			t.Fatalf("request %d refused", i)
		}
	}
	if l.Allow("ip") {
		t.Fatal("301st request in a minute allowed")
	}
	// Just after the fixed window turns, the previous one still counts.
	c.advance(31 * time.Second)
	allowed := allowedOf(l, "ip", 50)
	if allowed > 10 {
		t.Fatalf("%d of 50 allowed right after the window turned, with 300 sent 31 s before", allowed)
	}
	// A whole window later everything is forgotten.
	c.advance(time.Minute)
	if !l.Allow("ip") {
		t.Fatal("refused after a quiet minute")
	}
}

func TestWindowSpreadRequestsRefused(t *testing.T) {
	l, c := newTest(true, 300, time.Minute, 100)
	c.t = c.t.Truncate(time.Minute)
	// 300 requests spread evenly over a minute, then more right away.
	for i := 0; i < 300; i++ {
		if !l.Allow("ip") {
			t.Fatalf("request %d refused", i)
		}
		c.advance(200 * time.Millisecond)
	}
	allowed := allowedOf(l, "ip", 50)
	if allowed > 5 {
		t.Fatalf("%d of 50 more requests allowed right after 300 in a minute", allowed)
	}
}

func TestMemoryCapped(t *testing.T) {
	for _, capacity := range []int{1, 5, 63, 64, 640, 1000} {
		for _, sliding := range []bool{false, true} {
			l, _ := newTest(sliding, 10, time.Second, capacity)
			for i := 0; i < 20_000; i++ {
				l.Allow(fmt.Sprint("key-", i))
			}
			total := 0
			for i := 0; i < int(l.used); i++ {
				total += l.shards[i].lru.Len()
			}
			if total > capacity || total < capacity/2 {
				t.Fatalf("capacity %d, sliding=%v: %d keys remembered", capacity, sliding, total)
			}
		}
	}
}

func TestConcurrent(t *testing.T) {
	l := NewBucket[string](10, time.Hour, 100, StringShard)
	done := make(chan int)
	for g := 0; g < 8; g++ {
		go func() {
			n := 0
			for i := 0; i < 100; i++ {
				if l.Allow("k") {
					n++
				}
			}
			done <- n
		}()
	}
	total := 0
	for g := 0; g < 8; g++ {
		total += <-done
	}
	if total != 10 {
		t.Fatalf("%d requests allowed concurrently, want exactly 10", total)
	}
}
