package agent

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeClock is a settable clock for the monitor.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func TestMonitorReportsOnlyWaitingWorkWithoutProgress(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	m := newMonitor(time.Minute)
	m.now = clock.now
	var srcCount, srcWaiting, sinkCount, sinkWaiting uint64
	m.watch("source", "tail", func() progress { return progress{count: srcCount, waiting: srcWaiting, unit: "bytes"} })
	m.watch("sink", "siem", func() progress { return progress{count: sinkCount, waiting: sinkWaiting, unit: "entries"} })

	step := func(d time.Duration) {
		clock.t = clock.t.Add(d)
		m.sample()
	}
	// Idle for an hour: nothing waits, nothing is stalled.
	for range 60 {
		step(time.Minute)
	}
	assert.Empty(t, m.stalled(), "idle is not stalled")

	// Work arrives and moves: not stalled, however long it takes.
	srcWaiting, sinkWaiting = 100, 5
	for range 10 {
		srcCount++
		sinkCount++
		step(50 * time.Second)
	}
	assert.Empty(t, m.stalled(), "slow but moving is not stalled")

	// The source stops moving with work waiting: stalled after a minute,
	// not before.
	step(59 * time.Second)
	sinkCount++
	assert.Empty(t, m.stalled())
	step(time.Second)
	sinkCount++
	got := m.stalled()
	require.Len(t, got, 1)
	assert.Equal(t, "source", got[0].Kind)
	assert.Equal(t, "tail", got[0].Name)
	assert.Contains(t, got[0].String(), "source tail: stalled: no progress for 1m0s with 100 bytes waiting")
	assert.True(t, m.isStalled("source", "tail"))
	assert.False(t, m.isStalled("sink", "siem"))

	// One record taken in clears it.
	srcCount++
	step(time.Second)
	assert.Empty(t, m.stalled())

	// Work that begins to wait after a long idle time starts a new clock.
	srcWaiting, sinkWaiting = 0, 0
	step(time.Hour)
	sinkWaiting = 3
	step(time.Second)
	assert.Empty(t, m.stalled(), "the clock starts when the work arrives")
	step(time.Minute)
	got = m.stalled()
	require.Len(t, got, 1)
	assert.Equal(t, "sink siem: stalled: no progress for 1m0s with 3 entries waiting", got[0].String())
}
