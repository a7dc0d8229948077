package sources

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestCountersStats(t *testing.T) {
	var c Counters
	st := c.Stats("bytes")
	assert.Equal(t, Stats{BacklogUnit: "bytes"}, st, "zero value: nothing counted, no progress yet")

	t0 := time.Unix(1700000000, 5)
	c.Took(Result{Accepted: 3, Duplicates: 2}, t0)
	c.Refuse(4, t0.Add(time.Second))
	c.SetBacklog(100)
	c.AddBacklog(-30)
	st = c.Stats("requests")
	assert.Equal(t, Stats{Accepted: 3, Duplicates: 2, Refused: 4, Backlog: 70, BacklogUnit: "requests", LastProgress: time.Unix(1700000001, 5)}, st)
	assert.Equal(t, uint64(4), c.Refused())
}
