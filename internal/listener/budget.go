package listener

import (
	"context"
	"errors"
	"io"
	"sync/atomic"
	"time"

	"golang.org/x/sync/semaphore"
)

// ErrBusy is what reading a request body returns when the listener's
// in-flight budget (max_inflight_bytes) has no room for more of it within
// the wait: the request should be answered 503 with Retry-After.
var ErrBusy = errors.New("listener: max_inflight_bytes in use by other requests, retry later")

// Budget bounds the bytes of the request bodies that a listener reads or
// handles at once: a weighted semaphore with accounting. Safe for
// concurrent use.
type Budget struct {
	sem  *semaphore.Weighted
	max  int64
	used atomic.Int64
	peak atomic.Int64
}

// NewBudget returns a budget of max bytes.
func NewBudget(max int64) *Budget {
	return &Budget{sem: semaphore.NewWeighted(max), max: max}
}

// Max returns the budget's size in bytes.
func (b *Budget) Max() int64 { return b.max }

// InUse returns the bytes reserved now.
func (b *Budget) InUse() int64 { return b.used.Load() }

// Peak returns the most bytes ever reserved at once.
func (b *Budget) Peak() int64 { return b.peak.Load() }

func (b *Budget) acquire(ctx context.Context, n int64) error {
	if err := b.sem.Acquire(ctx, n); err != nil {
		return err
	}
	u := b.used.Add(n)
	for {
		p := b.peak.Load()
		if u <= p || b.peak.CompareAndSwap(p, u) {
			return nil
		}
	}
}

func (b *Budget) release(n int64) {
	if n > 0 {
		b.used.Add(-n)
		b.sem.Release(n)
	}
}

// reservation is one request's share of a Budget: it grows as the body
// is read and is given back whole when the request is answered. Used by
// one goroutine at a time.
type reservation struct {
	b     *Budget
	ctx   context.Context
	wait  time.Duration
	limit int64 // the most the body can hold: its Content-Length, or max_body_bytes
	held  int64
}

// minStep is the smallest growth of a reservation, so that a chunked
// body does not take the semaphore for every read.
const minStep = 64 << 10

// grow makes the reservation at least n bytes (n <= limit), waiting up to
// the wait for room; ErrBusy when there is none. It grows by doubling, as
// the buffer that the body is read into does.
func (r *reservation) grow(n int64) error {
	if n <= r.held {
		return nil
	}
	target := min(max(n, 2*r.held, minStep), r.limit)
	ctx, cancel := context.WithTimeout(r.ctx, r.wait)
	defer cancel()
	if err := r.b.acquire(ctx, target-r.held); err != nil {
		return ErrBusy
	}
	r.held = target
	return nil
}

func (r *reservation) release() {
	r.b.release(r.held)
	r.held = 0
}

// accountedBody reserves the bytes of a body before they are read through
// it, so that no body byte is held unaccounted.
type accountedBody struct {
	rc   io.ReadCloser
	res  *reservation
	read int64
	err  error
}

func (a *accountedBody) Read(p []byte) (int, error) {
	if a.err != nil {
		return 0, a.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	if a.read >= a.res.limit {
		// Only the end of the body, or the byte over the limit that makes
		// the reader below refuse it, can come now.
		p = p[:1]
	} else {
		if err := a.res.grow(min(a.read+int64(len(p)), a.res.limit)); err != nil && a.res.held <= a.read {
			a.err = err
			return 0, err
		}
		if room := a.res.held - a.read; room < int64(len(p)) {
			p = p[:room]
		}
	}
	n, err := a.rc.Read(p)
	a.read += int64(n)
	return n, err
}

func (a *accountedBody) Close() error { return a.rc.Close() }
