package tail

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/keeptrusts/kt/sources"
)

// isolateAfter is how many times in a row the Emitter may fail a batch
// with an error that names no line before the source looks for a line
// that fails alone.
const isolateAfter = 2

// doneWait is the wait of a batch with nothing left to write.
func doneWait(context.Context) (sources.Result, error) { return sources.Result{}, nil }

// submit hands batch to sub, dead-lettering (in the returned entries, not
// yet written) the lines sub refuses and submitting the others again. err
// is nil once rest is submitted (wait confirms it); otherwise it is the
// error that names no line (a busy ledger, say), and rest is still to send.
func (s *Source) submit(sub sources.Submitter, batch []sources.Raw, c chunk) (wait func(context.Context) (sources.Result, error), rest []sources.Raw, dead []deadLetter, err error) {
	for len(batch) > 0 {
		wait, err := sub.Submit(batch)
		if err == nil {
			return wait, batch, dead, nil
		}
		bad := refusedLines(err, batch)
		if len(bad) == 0 {
			return nil, batch, dead, err
		}
		var d []deadLetter
		batch, d = s.refuse(batch, bad, c)
		dead = append(dead, d...)
	}
	return doneWait, nil, dead, nil
}

// send hands batch (read from c) to the Emitter until every line of it is
// in the ledger or refused, and returns the dead letters of the refused
// lines, not yet written. settled is how many leading lines of batch are
// done: len(batch), or fewer when the Emitter keeps failing at a line with
// an error that names no line and has not been shown to take other lines
// meanwhile (see isolate). It pauses while the ledger is busy. err is
// ctx's error only.
func (s *Source) send(ctx context.Context, h *handle, batch []sources.Raw, c chunk) (settled int, dead []deadLetter, err error) {
	rest := batch
	wait := s.backoffMin
	failures := 0
	if h.stallWait > 0 {
		failures = isolateAfter - 1 // held back already: look at once
	}
	for len(rest) > 0 {
		res, err := s.emit.Emit(ctx, rest)
		if err == nil {
			s.took(len(rest), res)
			rest = nil
			break
		}
		if ctx.Err() != nil {
			return 0, nil, ctx.Err()
		}
		if bad := refusedLines(err, rest); len(bad) > 0 {
			var d []deadLetter
			rest, d = s.refuse(rest, bad, c)
			dead = append(dead, d...)
			continue
		}
		if !errors.Is(err, sources.ErrBusy) {
			failures++
			s.emitFailed(h, err)
			if failures >= isolateAfter {
				var stuck bool
				if rest, dead, stuck, err = s.isolate(ctx, h, rest, c, dead); err != nil {
					return 0, nil, err
				}
				if stuck {
					break
				}
				failures = 0
				continue
			}
		} else {
			s.log.Debug("file source: ledger busy, pausing", "file", h.path, "wait", wait)
		}
		s.updateBacklog()
		if err := sleep(ctx, wait); err != nil {
			return 0, nil, err
		}
		wait = min(2*wait, backoffMax)
	}
	settled = len(batch)
	if len(rest) > 0 {
		settled = sort.Search(len(batch), func(i int) bool { return batch[i].Line >= rest[0].Line })
	}
	return settled, dead, nil
}

// isolate handles a batch the Emitter failed as a whole with an error that
// names no line. It takes the longest prefix the Emitter takes,
// halving, down to the first line that fails alone; then it tries the
// lines after that one alone. A line that failed alone is dead-lettered
// when the Emitter has taken anything since it first failed (a later line
// here, or another file's) and it fails alone once more: the ledger works,
// the line cannot be taken. The lines not settled are returned; stuck
// means they wait for a later try (nothing after the first of them was
// taken: the ledger may be down).
func (s *Source) isolate(ctx context.Context, h *handle, rest []sources.Raw, c chunk, dead []deadLetter) (_ []sources.Raw, _ []deadLetter, stuck bool, err error) {
	// The longest prefix the Emitter takes; rest as a whole just failed.
	for n := len(rest) / 2; n > 0 && len(rest) > 0; {
		res, err := s.emit.Emit(ctx, rest[:n])
		if err == nil {
			s.took(n, res)
			rest = rest[n:]
			n = len(rest)
			continue
		}
		if ctx.Err() != nil {
			return nil, nil, false, ctx.Err()
		}
		if bad := refusedLines(err, rest[:n]); len(bad) > 0 {
			kept, d := s.refuse(rest[:n], bad, c)
			dead = append(dead, d...)
			rest = append(kept, rest[n:]...)
			n = max(len(kept), 1)
			continue
		}
		if errors.Is(err, sources.ErrBusy) {
			return rest, dead, false, nil
		}
		if n == 1 {
			break
		}
		n /= 2
	}
	if len(rest) == 0 {
		return rest, dead, false, nil
	}
	// rest[0] fails alone. Try the lines after it one by one until the
	// Emitter takes one.
	first := suspect{rest[0], s.emitOK}
	if h.suspectFP == h.fp && h.suspectOff == rest[0].Source.Offset {
		first.ok = min(first.ok, h.suspectOK)
	}
	suspects := []suspect{first}
	after := rest[1:] // not tried alone yet
	taken := false
	for len(after) > 0 && !taken {
		r := after[:1]
		res, err := s.emit.Emit(ctx, r)
		switch {
		case err == nil:
			s.took(1, res)
			taken = true
		case ctx.Err() != nil:
			return nil, nil, false, ctx.Err()
		case len(refusedLines(err, r)) > 0:
			_, d := s.refuse(r, refusedLines(err, r), c)
			dead = append(dead, d...)
		case errors.Is(err, sources.ErrBusy):
			return append(rawsOf(suspects), after...), dead, false, nil
		default:
			suspects = append(suspects, suspect{r[0], s.emitOK})
		}
		after = after[1:]
	}
	// Each suspect the Emitter has taken something since gets one more
	// try alone; the others wait.
	var left []sources.Raw
	for _, sp := range suspects {
		if len(left) > 0 || s.emitOK == sp.ok {
			left = append(left, sp.raw)
			if len(left) == 1 {
				h.suspectOff, h.suspectFP, h.suspectOK = sp.raw.Source.Offset, h.fp, sp.ok
			}
			continue
		}
		r := []sources.Raw{sp.raw}
		res, err := s.emit.Emit(ctx, r)
		switch {
		case err == nil:
			s.took(1, res)
		case ctx.Err() != nil:
			return nil, nil, false, ctx.Err()
		case len(refusedLines(err, r)) > 0:
			_, d := s.refuse(r, refusedLines(err, r), c)
			dead = append(dead, d...)
		case errors.Is(err, sources.ErrBusy):
			left = append(left, sp.raw)
		default:
			reason := fmt.Sprintf("the emitter fails this line alone while it takes other lines: %v", err)
			_, d := s.refuse(r, map[int]string{0: reason}, c)
			dead = append(dead, d...)
		}
	}
	if len(left) > 0 && !taken {
		return left, dead, true, nil
	}
	return append(left, after...), dead, false, nil
}

// suspect is a line the Emitter failed alone with an error that names no
// line; ok is s.emitOK at that moment.
type suspect struct {
	raw sources.Raw
	ok  uint64
}

func rawsOf(ss []suspect) []sources.Raw {
	out := make([]sources.Raw, len(ss))
	for i, sp := range ss {
		out[i] = sp.raw
	}
	return out
}

// refusedLines returns the reasons, by index in batch, of the lines err
// refuses (*sources.RecordErrors, *sources.ConflictError); nil when err
// names none of them.
func refusedLines(err error, batch []sources.Raw) map[int]string {
	var (
		recs     sources.RecordErrors
		recsP    *sources.RecordErrors
		conflict *sources.ConflictError
	)
	byLine := func(line int) int {
		i := sort.Search(len(batch), func(i int) bool { return batch[i].Line >= line })
		if line > 0 && i < len(batch) && batch[i].Line == line {
			return i
		}
		return -1
	}
	var bad map[int]string
	switch {
	case errors.As(err, &recs) || errors.As(err, &recsP):
		if recsP != nil {
			recs = *recsP
		}
		for _, r := range recs {
			i := r.Index
			if i < 0 || i >= len(batch) || (r.Line > 0 && batch[i].Line != r.Line) {
				i = byLine(r.Line)
			}
			if i < 0 {
				continue
			}
			reason := "refused"
			if r.Err != nil {
				reason = r.Err.Error()
			}
			if r.Field != "" && !strings.Contains(reason, strconv.Quote(r.Field)) {
				reason = r.Field + ": " + reason
			}
			if bad == nil {
				bad = map[int]string{}
			}
			bad[i] = reason
		}
	case errors.As(err, &conflict):
		if i := byLine(conflict.Line); i >= 0 {
			bad = map[int]string{i: conflict.Error()}
		}
	}
	return bad
}

// refuse splits batch into the lines kept and the dead letters of the
// lines bad names (by index).
func (s *Source) refuse(batch []sources.Raw, bad map[int]string, c chunk) (kept []sources.Raw, dead []deadLetter) {
	now := s.now()
	kept = make([]sources.Raw, 0, len(batch)-min(len(bad), len(batch)))
	for i, r := range batch {
		reason, ok := bad[i]
		if !ok {
			kept = append(kept, r)
			continue
		}
		dead = append(dead, s.letter(now, r.Source.File, r.Source.Offset, r.Line, reason, c.line(r), r.Data))
	}
	return kept, dead
}

// took counts n lines the Emitter took.
func (s *Source) took(n int, res sources.Result) {
	if n == 0 {
		return
	}
	s.emitted.Add(uint64(n))
	s.counts.Took(res, s.now())
	s.emitOK++
	if !s.failingSince.IsZero() {
		s.log.Info("file source: the emitter takes lines again", "failed_for", s.now().Sub(s.failingSince).Round(time.Millisecond), "failed_attempts", s.failures)
		s.failingSince, s.failures = time.Time{}, 0
	}
}

// emitFailed logs an Emit that failed with an error naming no line: the
// first of a run at once, the rest once a minute.
func (s *Source) emitFailed(h *handle, err error) {
	s.failures++
	now := s.now()
	if s.failingSince.IsZero() {
		s.failingSince = now
		s.failLog.AllowN(now, 1)
		s.log.Error("file source: emit failed, retrying; the lines stay in the file", "file", h.path, "err", clip(err.Error(), 512))
		return
	}
	if s.failLog.AllowN(now, 1) {
		s.log.Error("file source: emit still failing, retrying; the lines stay in the file", "file", h.path,
			"since", s.failingSince.UTC().Format(time.RFC3339), "failed_attempts", s.failures, "err", clip(err.Error(), 512))
	}
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
