package index

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/keeptrusts/kt/internal/dirlock"
	"github.com/keeptrusts/kt/internal/layout"
	"github.com/keeptrusts/kt/queue"
)

// Rebuild makes the index of the data dir anew from its ledger alone and
// returns how many entries it indexed. It holds the data dir's lock, so
// it refuses to run while an agent does (dirlock.ErrLocked): stop the
// agent first. It indexes the entries up to the ledger's last commit
// checkpoint, which a start of the agent keeps; the agent indexes any
// later ones when it starts. progress, if not nil, is called after each
// batch with the entries indexed so far.
func Rebuild(ctx context.Context, dataDir string, progress func(n uint64)) (uint64, error) {
	lock, err := dirlock.Acquire(layout.Lock(dataDir))
	if err != nil {
		return 0, fmt.Errorf("index: %w", err)
	}
	defer lock.Release()
	path := layout.Index(dataDir)
	if _, err := os.Stat(layout.Ledger(dataDir)); err != nil {
		return 0, fmt.Errorf("index: no ledger in %s: %w", dataDir, err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return 0, fmt.Errorf("index: %w", err)
		}
	}
	x, err := Open(path)
	if err != nil {
		return 0, err
	}
	defer x.Close()

	const batch = 1000
	var pending []Entry // entries read since the last commit checkpoint
	var ready []Entry   // entries a checkpoint covers, not yet added
	var n uint64
	flush := func() error {
		if len(ready) == 0 {
			return nil
		}
		bad, err := x.Add(ctx, ready)
		if err != nil {
			return err
		}
		if len(bad) > 0 {
			return bad[0].Err
		}
		n += uint64(len(ready))
		ready = ready[:0]
		if progress != nil {
			progress(n)
		}
		return nil
	}
	_, err = queue.Scan(layout.Ledger(dataDir), func(it queue.Item) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		switch it.Kind {
		case queue.ItemEntry:
			pending = append(pending, Entry{Seq: it.Seq, Line: append([]byte(nil), it.Line...)})
		case queue.ItemCheckpoint:
			// Everything before its size is committed.
			size := uint64(it.Checkpoint.Size)
			k := 0
			for k < len(pending) && pending[k].Seq < size {
				k++
			}
			ready = append(ready, pending[:k]...)
			pending = append(pending[:0], pending[k:]...)
			if len(ready) >= batch {
				return flush()
			}
		}
		return nil
	})
	if err != nil {
		return n, fmt.Errorf("index: reading the ledger: %w", err)
	}
	if err := flush(); err != nil {
		return n, err
	}
	return n, nil
}
