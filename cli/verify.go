package cli

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/keeptrusts/kt/event"
	"github.com/keeptrusts/kt/internal/layout"
	"github.com/keeptrusts/kt/ledger"
	"github.com/keeptrusts/kt/queue"
)

func newVerifyCmd() *cobra.Command {
	var dataDir, trust, proofFile string
	var anchors []string
	var quiet bool
	cmd := &cobra.Command{
		Use:   "verify [--data-dir DIR] [--trust FILE] [--anchors PATH ...] [--proof FILE] [NDJSON ...]",
		Short: "Prove that a ledger or a copy of it was not altered",
		Long: `Verify a kt ledger: a data dir (--data-dir) and/or NDJSON copies of it as a file
sink or a SIEM holds them. Every entry's hash, chain link and signature is
checked, and every signed checkpoint against the entries it covers.

Findings are printed one per line, naming the seq: MODIFIED, GAP, DUPLICATE,
REORDERED, CHAIN_BREAK, TRUNCATED, FORK, BAD_SIGNATURE, UNKNOWN_KEY, MALFORMED,
DAMAGED, and the warning UNANCHORED. See docs/VERIFICATION.md.

--trust FILE   public keys to trust, one signed-note verifier key per line
               (the .pub file next to a signing key). Without it the key in the
               data dir's signing.key.pub or the ledger's genesis entry is used,
               with a warning: an attacker who rewrote everything would pass.
--anchors PATH checkpoints kept somewhere else (a sink's NDJSON output, a file
               of signed notes): history cut off or rewritten below them is found.
--proof FILE   an event proof (kt audit-log proof ID): checks that its entry is
               in the ledger, unaltered; needs --trust.

An input that holds no ledger entries is not "intact": it exits 2, or 1 with
TRUNCATED when an anchor shows that entries should be there.

Exit status: 0 intact, 1 tamper evidence found, 2 could not run.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if proofFile != "" {
				if dataDir != "" || len(args) > 0 || len(anchors) > 0 {
					return &ExitError{Code: 2, Err: errors.New("--proof is checked on its own: give only --proof FILE and --trust FILE")}
				}
				return verifyProof(cmd.OutOrStdout(), proofFile, trust)
			}
			if dataDir == "" && len(args) == 0 {
				return &ExitError{Code: 2, Err: errors.New("nothing to verify: give --data-dir DIR or NDJSON files")}
			}
			out := cmd.OutOrStdout()
			errw := cmd.ErrOrStderr()
			var keys ledger.Keyring
			if trust != "" {
				b, err := os.ReadFile(trust)
				if err != nil {
					return &ExitError{Code: 2, Err: fmt.Errorf("--trust: %w", err)}
				}
				if keys, err = ledger.ParseKeyring(string(b)); err != nil {
					return &ExitError{Code: 2, Err: fmt.Errorf("--trust %s: %w", trust, err)}
				}
				if len(keys) == 0 {
					return &ExitError{Code: 2, Err: fmt.Errorf("--trust %s: no keys in the file", trust)}
				}
			}
			for _, a := range anchors {
				if _, err := os.Stat(a); err != nil {
					return &ExitError{Code: 2, Err: fmt.Errorf("--anchors: %w", err)}
				}
			}
			type input struct {
				name string
				feed func(*ledger.Check) error
				key  func() (*ledger.Verifier, error)
			}
			var inputs []input
			if dataDir != "" {
				inputs = append(inputs, input{name: dataDir, feed: func(c *ledger.Check) error { return feedDataDir(c, dataDir) },
					key: func() (*ledger.Verifier, error) { return dataDirKey(dataDir) }})
			}
			for _, a := range args {
				inputs = append(inputs, input{name: a, feed: func(c *ledger.Check) error { return feedNDJSON(c, a) },
					key: func() (*ledger.Verifier, error) { return ndjsonGenesisKey(a) }})
			}
			bad := false
			for _, in := range inputs {
				k := keys
				if k == nil {
					v, err := in.key()
					if err != nil {
						return &ExitError{Code: 2, Err: fmt.Errorf("%s: no --trust given and %v", in.name, err)}
					}
					fmt.Fprintf(errw, "warning: %s: no --trust given; trusting the key found in it (%s)\n", in.name, v.KeyID())
					k = ledger.Keyring{}
					k.Add(v)
				}
				c := ledger.NewCheck(k)
				for _, a := range anchors {
					if err := feedAnchors(c, a); err != nil {
						return &ExitError{Code: 2, Err: fmt.Errorf("--anchors: %w", err)}
					}
				}
				if err := in.feed(c); err != nil {
					return &ExitError{Code: 2, Err: err}
				}
				findings, st := c.Finish()
				errorsFound := 0
				for _, f := range findings {
					if !f.Warning {
						errorsFound++
					}
				}
				if st.Entries == 0 && errorsFound == 0 {
					// Nothing to vouch for; an anchor that shows entries
					// should be there gives TRUNCATED instead.
					return &ExitError{Code: 2, Err: fmt.Errorf("%s holds no ledger entries", in.name)}
				}
				for _, f := range findings {
					if !quiet || !f.Warning {
						fmt.Fprintln(out, f.String())
					}
				}
				if errorsFound > 0 {
					bad = true
					fmt.Fprintf(errw, "%s: TAMPER EVIDENCE: %d finding(s) in %d entries\n", in.name, errorsFound, st.Entries)
				} else {
					fmt.Fprintf(errw, "%s: OK: %s\n", in.name, summary(st))
				}
			}
			if bad {
				return &ExitError{Code: 1}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dataDir, "data-dir", "", "a kt data dir to verify")
	cmd.Flags().StringVar(&trust, "trust", "", "file of trusted public keys")
	cmd.Flags().StringArrayVar(&anchors, "anchors", nil, "checkpoints kept elsewhere: NDJSON with checkpoint records, or signed notes (repeatable)")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print errors only, not warnings")
	cmd.Flags().StringVar(&proofFile, "proof", "", "an event proof to check (kt audit-log proof ID)")
	return cmd
}

// feedAnchors gives the check the checkpoints kept in path: an NDJSON file
// (checkpoint and heartbeat records, ledger.checkpoint entries) or one
// signed note.
func feedAnchors(c *ledger.Check, path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if !bytes.HasPrefix(bytes.TrimSpace(b), []byte("{")) {
		c.Checkpoint(b, path, true)
		return nil
	}
	return eachLine(path, func(line []byte, where string) { c.AnchorLine(line, where) })
}

func summary(st ledger.Stats) string {
	s := fmt.Sprintf("%d entries, seq %d..%d, %d signed checkpoints (%d recomputed)", st.Entries, st.First, st.Last, st.Checkpoints, st.Verified)
	if st.Anchored > 0 {
		s += fmt.Sprintf(", anchored up to size %d", st.Anchored)
	}
	return s
}

// eachLine calls fn with each non-blank line of the file at path; each line
// is a slice of its own (bufio.Reader.ReadBytes), so fn may keep it.
func eachLine(path string, fn func(line []byte, where string)) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	for n := 1; ; n++ {
		line, err := r.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) > 0 {
			fn(line, fmt.Sprintf("%s:%d", path, n))
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
}

func feedNDJSON(c *ledger.Check, path string) error {
	b := newLineBatch(c)
	if err := eachLine(path, b.add); err != nil {
		return err
	}
	b.flush()
	return nil
}

// lineBatch hands lines to a Check in batches, which it checks in
// parallel.
type lineBatch struct {
	c      *ledger.Check
	lines  [][]byte
	wheres []string
}

func newLineBatch(c *ledger.Check) *lineBatch { return &lineBatch{c: c} }

// add queues line, which must stay as it is until the next flush.
func (b *lineBatch) add(line []byte, where string) {
	b.lines = append(b.lines, line)
	b.wheres = append(b.wheres, where)
	if len(b.lines) == 4096 {
		b.flush()
	}
}

func (b *lineBatch) flush() {
	b.c.Lines(b.lines, b.wheres)
	b.lines, b.wheres = b.lines[:0], b.wheres[:0]
}

func ndjsonGenesisKey(path string) (*ledger.Verifier, error) {
	var v *ledger.Verifier
	var gerr error = errors.New("it holds no genesis entry (seq 0) to take a key from; give --trust FILE")
	entries := false
	err := eachLine(path, func(line []byte, _ string) {
		if v != nil {
			return
		}
		e, err := ledger.ParseLine(line)
		if err != nil {
			return
		}
		entries = true
		if e.Seq == 0 {
			v, gerr = ledger.GenesisKey(e)
		}
	})
	if err != nil {
		return nil, err
	}
	if !entries {
		return nil, errors.New("it holds no ledger entries")
	}
	return v, gerr
}

// betweenReads is a test hook, run after the checkpoint file is read and
// before the segments are.
var betweenReads = func() {}

func feedDataDir(c *ledger.Check, dir string) error {
	c.Local = true // checkpoints kept on this host are checked but anchor nothing
	ldir := layout.Ledger(dir)
	if _, err := os.Stat(ldir); err != nil {
		return fmt.Errorf("%s is not a kt data dir: %w", dir, err)
	}
	// The checkpoint file first: a running agent rewrites it after each
	// commit is durable, so the segments read after it hold at least the
	// entries it covers. (Read after them, it could be newer than what was
	// read: a false TRUNCATED.)
	ckptPath := layout.LedgerCheckpoint(dir)
	ckpt, ckptErr := os.ReadFile(ckptPath)
	betweenReads()
	b := newLineBatch(c)
	damage, err := queue.Scan(ldir, func(it queue.Item) error {
		switch it.Kind {
		case queue.ItemEntry:
			b.add(bytes.Clone(it.Line), fmt.Sprintf("seq %d", it.Seq)) // Scan reuses it.Line
		case queue.ItemCheckpoint:
			b.flush() // in order with the entries before it
			c.Checkpoint(it.Checkpoint.Note, "commit checkpoint", false)
		}
		return nil
	})
	b.flush()
	if err != nil {
		return fmt.Errorf("%s: %w", dir, err)
	}
	for _, d := range damage {
		// Scan reports a torn tail only at the end of the last segment.
		c.Damaged(fmt.Sprintf("%s:%d", d.Segment, d.Offset), d.String(), d.Kind == queue.TornTail)
	}
	if ckptErr == nil {
		c.LocalCheckpoint(ckpt, ckptPath)
	}
	return nil
}

func dataDirKey(dir string) (*ledger.Verifier, error) {
	// The agent keeps the public key next to the signing key, in
	// <key file>.pub.
	if b, err := os.ReadFile(layout.PublicKey(layout.SigningKey(dir))); err == nil {
		return ledger.NewVerifier(string(b))
	}
	var v *ledger.Verifier
	var gerr error = errors.New("the ledger has no genesis entry to take a key from; give --trust FILE")
	_, err := queue.Scan(layout.Ledger(dir), func(it queue.Item) error {
		if it.Kind == queue.ItemEntry && it.Seq == 0 && v == nil {
			e, err := ledger.ParseLine(it.Line)
			if err == nil {
				v, gerr = ledger.GenesisKey(e)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return v, gerr
}

// verifyProof checks the event proof in file with the keys of trust: exit
// 0 and "OK" when it holds, 1 naming what fails, 2 when it cannot run.
func verifyProof(out io.Writer, file, trust string) error {
	if trust == "" {
		return &ExitError{Code: 2, Err: errors.New("--proof needs --trust FILE: the public key is what the proof is checked against")}
	}
	b, err := os.ReadFile(trust)
	if err != nil {
		return &ExitError{Code: 2, Err: fmt.Errorf("--trust: %w", err)}
	}
	keys, err := ledger.ParseKeyring(string(b))
	if err != nil || len(keys) == 0 {
		return &ExitError{Code: 2, Err: fmt.Errorf("--trust %s: no keys (%v)", trust, err)}
	}
	doc, err := os.ReadFile(file)
	if err != nil {
		return &ExitError{Code: 2, Err: fmt.Errorf("--proof: %w", err)}
	}
	var last error
	for _, v := range keys {
		e, size, err := ledger.VerifyEventProof(v, doc)
		if err == nil {
			ev, _ := event.Parse(e.AppendLine(nil))
			fmt.Fprintf(out, "%s: OK: entry seq %d (event %q) is in the ledger of key %s, unaltered, under a signed checkpoint of size %d\n",
				file, e.Seq, ev.ID, v.KeyID(), size)
			return nil
		}
		if last == nil || (e != nil && e.KeyID == v.KeyID()) {
			last = err
		}
	}
	fmt.Fprintf(out, "%s: FAILED: %v\n", file, last)
	return &ExitError{Code: 1}
}
