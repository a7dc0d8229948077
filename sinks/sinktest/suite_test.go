package sinktest

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"testing"

	"github.com/keeptrusts/kt/sinks"
)

// memory is the reference receiver: it keeps the lines it is sent and has
// every capability. The suite run against it checks the Engine itself.
type memory struct {
	mu      sync.Mutex
	lines   [][]byte
	fail    int
	items   []string
	batches []string
}

func (m *memory) Spec(*testing.T) sinks.Spec {
	return sinks.Spec{Delivery: sinks.NewDelivery("memory", "m"), New: func(*slog.Logger) (sinks.Transport, error) {
		return &memoryTransport{m: m}, nil
	}}
}

func (m *memory) Stored(*testing.T) [][]byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.lines)
}

func (m *memory) FailNext(n int) { m.mu.Lock(); m.fail = n; m.mu.Unlock() }

func (m *memory) RefuseItems(ids ...string) { m.mu.Lock(); m.items = ids; m.mu.Unlock() }

func (m *memory) RefuseBatches(ids ...string) { m.mu.Lock(); m.batches = ids; m.mu.Unlock() }

type memoryTransport struct {
	m      *memory
	closed bool
}

func (t *memoryTransport) Send(ctx context.Context, recs []sinks.Record) error {
	if t.closed {
		return errors.New("memory: send after Close")
	}
	m := t.m
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail > 0 {
		m.fail--
		return errors.New("memory: unavailable")
	}
	for _, r := range recs {
		if slices.Contains(m.batches, r.ID) {
			return sinks.Permanent(errors.New("memory: bad request"))
		}
	}
	var items sinks.ItemErrors
	for i, r := range recs {
		if slices.Contains(m.items, r.ID) {
			items = append(items, sinks.ItemError{Index: i, Err: sinks.Permanent(errors.New("memory: bad record " + r.ID))})
			continue
		}
		m.lines = append(m.lines, slices.Clone(r.Line))
	}
	if items != nil {
		return items
	}
	return nil
}

func (t *memoryTransport) Close() error { t.closed = true; return nil }

func TestSuite(t *testing.T) {
	Run(t, func(*testing.T) Receiver { return &memory{} })
}
