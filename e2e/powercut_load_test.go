package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// The load of the power-cut test: webhook clients and a writer of the file
// the file source tails.

// hookLoad is webhook clients that post batches of events, each batch
// again with the same ids until it gets a 202, and remember what was
// acknowledged.
type hookLoad struct {
	prefix  string
	clients int
	batch   int
	pace    time.Duration // pause after each acknowledged batch

	url      atomic.Pointer[string]
	paused   atomic.Bool
	inflight atomic.Int64
	stopC    chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup
	batches  atomic.Int64 // batches acknowledged

	mu         sync.Mutex
	acked      map[string]bool
	unexpected []string
}

func newHookLoad(prefix string) *hookLoad {
	return &hookLoad{prefix: prefix, clients: 2, batch: 10, pace: 15 * time.Millisecond,
		stopC: make(chan struct{}), acked: map[string]bool{}}
}

func (h *hookLoad) setURL(u string) { h.url.Store(&u) }

func (h *hookLoad) start() {
	for c := range h.clients {
		h.wg.Add(1)
		go h.client(c)
	}
}

func (h *hookLoad) client(c int) {
	defer h.wg.Done()
	for b := 0; ; b++ {
		ids := make([]string, h.batch)
		var body []byte
		for i := range ids {
			ids[i] = fmt.Sprintf("%s-c%d-b%d-e%d", h.prefix, c, b, i)
			ev, _ := json.Marshal(map[string]any{
				"id": ids[i], "time": "2026-03-01T10:00:00Z", "action": "config.update",
				"actor":   map[string]any{"type": "user", "id": fmt.Sprintf("usr_%d", c)},
				"target":  map[string]any{"type": "config", "id": "cfg_1"},
				"changes": map[string]any{"before": map[string]any{"n": b}, "after": map[string]any{"n": b + 1}},
			})
			body = append(append(body, ev...), '\n')
		}
		for {
			select {
			case <-h.stopC:
				return
			default:
			}
			u := h.url.Load()
			if h.paused.Load() || u == nil || *u == "" {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			h.inflight.Add(1)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			r, err := post(ctx, *u, body, nil)
			cancel()
			h.inflight.Add(-1)
			if err == nil && r.Code == http.StatusAccepted {
				h.mu.Lock()
				for _, id := range ids {
					h.acked[id] = true
				}
				h.mu.Unlock()
				h.batches.Add(1)
				break
			}
			if err == nil && r.Code < 500 {
				h.mu.Lock()
				h.unexpected = append(h.unexpected, fmt.Sprintf("HTTP %d for batch %s-c%d-b%d: %s", r.Code, h.prefix, c, b, r.Body))
				h.mu.Unlock()
			}
			time.Sleep(20 * time.Millisecond)
		}
		time.Sleep(h.pace)
	}
}

// pause stops posting and waits for the requests in flight.
func (h *hookLoad) pause() {
	h.paused.Store(true)
	for h.inflight.Load() > 0 {
		time.Sleep(5 * time.Millisecond)
	}
}

func (h *hookLoad) resume() { h.paused.Store(false) }

// stop ends the clients; it may be called twice.
func (h *hookLoad) stop() {
	h.stopOnce.Do(func() { close(h.stopC) })
	h.wg.Wait()
}

func (h *hookLoad) ackedIDs() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	ids := make([]string, 0, len(h.acked))
	for id := range h.acked {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

func (h *hookLoad) unexpectedAnswers() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.unexpected)
}

// lineWriter appends one audit event per line to a file the file source
// tails, each with one write(2), and remembers where each line ends.
type lineWriter struct {
	path   string
	prefix string
	every  time.Duration
	paused atomic.Bool
	stopC  chan struct{}
	once   sync.Once
	wg     sync.WaitGroup
	mu     sync.Mutex
	ids    []string
	ends   []int64
	err    error
}

func newLineWriter(path, prefix string) *lineWriter {
	return &lineWriter{path: path, prefix: prefix, every: 10 * time.Millisecond, stopC: make(chan struct{})}
}

// write appends n lines now.
func (w *lineWriter) write(n int) error {
	f, err := os.OpenFile(w.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	w.mu.Lock()
	defer w.mu.Unlock()
	for range n {
		id := fmt.Sprintf("%s-%d", w.prefix, len(w.ids))
		line, _ := json.Marshal(map[string]any{
			"id": id, "time": "2026-03-01T10:00:00Z", "action": "member.invite",
			"actor":  map[string]any{"type": "user", "id": "usr_writer"},
			"target": map[string]any{"type": "user", "id": "usr_new"},
		})
		if _, err := f.Write(append(line, '\n')); err != nil {
			return err
		}
		end, err := f.Seek(0, 1)
		if err != nil {
			return err
		}
		w.ids = append(w.ids, id)
		w.ends = append(w.ends, end)
	}
	return nil
}

func (w *lineWriter) start() {
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		for {
			select {
			case <-w.stopC:
				return
			case <-time.After(w.every):
			}
			if w.paused.Load() {
				continue
			}
			if err := w.write(1); err != nil {
				w.mu.Lock()
				w.err = err
				w.mu.Unlock()
				return
			}
		}
	}()
}

// stop ends the writer; it may be called twice.
func (w *lineWriter) stop() {
	w.once.Do(func() { close(w.stopC) })
	w.wg.Wait()
}

// upTo returns the ids of the lines that end at or before off.
func (w *lineWriter) upTo(off int64) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := sort.Search(len(w.ends), func(i int) bool { return w.ends[i] > off })
	return slices.Clone(w.ids[:n])
}

func (w *lineWriter) all() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.ids)
}
