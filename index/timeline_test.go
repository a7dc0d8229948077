package index

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTimelineKnownAnswers(t *testing.T) {
	const n = 200
	x := openFilled(t, n)
	ctx := context.Background()
	// Event 60: correlation corr-2 (60, 63, ..., 87), target gw-5, actor usr_4.
	tl, err := x.Timeline(ctx, "ev-0000060", 10*time.Second)
	require.NoError(t, err)
	assert.Equal(t, uint64(60), tl.Event.Seq)
	want := map[uint64][]string{}
	for i := 0; i < n; i++ {
		var why []string
		if i%3 == 0 && i/30 == 2 {
			why = append(why, ByCorrelation)
		}
		near := i >= 50 && i <= 70
		if near && i%11 == 60%11 {
			why = append(why, ByTarget)
		}
		if near && i%7 == 60%7 {
			why = append(why, ByActor)
		}
		if i == 60 {
			why = nil
			want[60] = nil
			continue
		}
		if len(why) > 0 {
			want[uint64(i)] = why
		}
	}
	got := map[uint64][]string{}
	var last uint64
	for i, r := range tl.Events {
		got[r.Seq] = r.Why
		if i > 0 {
			assert.Greater(t, r.Seq, last, "oldest first")
		}
		last = r.Seq
	}
	assert.Equal(t, want, got)
	assert.False(t, tl.Truncated)

	_, err = x.Timeline(ctx, "nope", 0)
	assert.ErrorIs(t, err, ErrNotFound)
}

func TestTimelineKeepsTheNearestWhenTruncated(t *testing.T) {
	// Actor usr_(i%7): within ±3 h of event 4000 (all 7,700 events, a
	// second apart) 1,100 have its actor, more than the limit.
	x2 := openFilled(t, 7*MaxTimeline+700)
	tl, err := x2.Timeline(context.Background(), fmt.Sprintf("ev-%07d", 4000), 3*time.Hour)
	require.NoError(t, err)
	assert.True(t, tl.Truncated)
	assert.Len(t, tl.Events, MaxTimeline+1)
	// The kept ones are the nearest in time: a contiguous stretch around 4000.
	first, lastSeq := tl.Events[0].Seq, tl.Events[len(tl.Events)-1].Seq
	assert.Less(t, first, uint64(4000))
	assert.Greater(t, lastSeq, uint64(4000))
	assert.InDelta(t, 4000-first, lastSeq-4000, 200)
}
