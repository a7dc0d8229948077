package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/keeptrusts/kt/diff"
	"github.com/keeptrusts/kt/event"
)

func newAuditLogCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit-log",
		Short: "List and show the recorded events (from the agent's query index)",
		Long: `Client commands of the query API: the agent's index of every ledger entry.
Every event printed with -o json or -o ndjson is the ledger's line, byte for
byte, with its ledger fields (seq, prev_hash, hash, sig, key_id).`,
	}
	cmd.AddCommand(newAuditLogListCmd(), newAuditLogShowCmd(), newAuditLogTimelineCmd(), newAuditLogStateCmd(), newAuditLogProofCmd(), newAuditLogDiffCmd())
	return cmd
}

// listFlags are the filters of `kt audit-log list`, by query parameter.
var listFlags = []struct{ flag, param, usage string }{
	{"actor", "actor", "actor id or name"},
	{"actor-type", "actor_type", "user, api_token or system"},
	{"action", "action", "action, or a prefix such as config.*"},
	{"category", "category", "category"},
	{"target-type", "target_type", "target type"},
	{"target-id", "target_id", "target id"},
	{"outcome", "outcome", "outcome"},
	{"org", "org", "org id"},
	{"from", "from", "from this time (inclusive): RFC 3339, or a date (YYYY-MM-DD, a day in --tz)"},
	{"to", "to", "before this time (exclusive): RFC 3339, or a date"},
	{"tz", "tz", "IANA time zone of dates (default UTC), such as Europe/Berlin"},
}

func newAuditLogListCmd() *cobra.Command {
	var af apiFlags
	vals := make([]string, len(listFlags))
	var limit int
	var all, oldest bool
	var output string
	cmd := &cobra.Command{
		Use:   "list [SEARCH] [filters] [--limit N | --all] [--oldest] [-o table|json|ndjson]",
		Short: "List events, newest first, by filters or a search string",
		Long: `List events, newest first (--oldest: oldest first). Filter with the flags, or
with one search string, such as

  kt audit-log list 'actor:alice@acme.example action:config.* created:2026-01-01..2026-03-31'

(docs/QUERY.md has the grammar). --limit gives one page (default 50); --all
pages through every match.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "table" && output != "json" && output != "ndjson" {
				return &ExitError{Code: 2, Err: fmt.Errorf("-o %q: use table, json or ndjson", output)}
			}
			q := url.Values{}
			for i, lf := range listFlags {
				if vals[i] != "" {
					q.Set(lf.param, vals[i])
				}
			}
			if len(args) == 1 {
				q.Set("search", args[0])
			}
			if oldest {
				q.Set("order", "oldest")
			}
			if !all {
				q.Set("limit", strconv.Itoa(limit))
			} else {
				q.Set("limit", "1000")
			}
			out := cmd.OutOrStdout()
			var events []json.RawMessage
			for {
				var page struct {
					Events     []json.RawMessage `json:"events"`
					NextCursor string            `json:"next_cursor"`
				}
				if err := af.get("/v1/events?"+q.Encode(), &page); err != nil {
					return &ExitError{Code: 2, Err: err}
				}
				if output == "ndjson" {
					for _, e := range page.Events {
						out.Write(append(e, '\n'))
					}
				} else {
					events = append(events, page.Events...)
				}
				if !all || page.NextCursor == "" {
					break
				}
				q.Set("cursor", page.NextCursor)
			}
			switch output {
			case "ndjson":
				return nil
			case "json":
				return writeJSONEvents(out, events)
			}
			return writeEventTable(out, events)
		},
	}
	for i, lf := range listFlags {
		cmd.Flags().StringVar(&vals[i], lf.flag, "", lf.usage)
	}
	cmd.Flags().IntVar(&limit, "limit", 50, "events to list (1 to 1000)")
	cmd.Flags().BoolVar(&all, "all", false, "list every match, page after page")
	cmd.Flags().BoolVar(&oldest, "oldest", false, "oldest first")
	cmd.Flags().StringVarP(&output, "output", "o", "table", "table, json or ndjson")
	af.add(cmd)
	return cmd
}

func newAuditLogShowCmd() *cobra.Command {
	var af apiFlags
	var output string
	cmd := &cobra.Command{
		Use:   "show ID [-o pretty|json]",
		Short: "Show one event with its ledger fields",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var line json.RawMessage
			if err := af.get("/v1/events/"+url.PathEscape(args[0]), &line); err != nil {
				return &ExitError{Code: 2, Err: err}
			}
			out := cmd.OutOrStdout()
			switch output {
			case "json":
				_, err := out.Write(append(line, '\n'))
				return err
			case "pretty":
				var b bytes.Buffer
				if err := json.Indent(&b, line, "", "  "); err != nil {
					return err
				}
				b.WriteByte('\n')
				_, err := out.Write(b.Bytes())
				return err
			}
			return &ExitError{Code: 2, Err: fmt.Errorf("-o %q: use pretty or json", output)}
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "pretty", "pretty (indented) or json (the ledger line as it is)")
	af.add(cmd)
	return cmd
}

// writeJSONEvents writes {"events":[...]} with each line as it is.
func writeJSONEvents(w io.Writer, events []json.RawMessage) error {
	var b bytes.Buffer
	b.WriteString(`{"events":[`)
	for i, e := range events {
		if i > 0 {
			b.WriteString(",\n")
		}
		b.Write(e)
	}
	b.WriteString("]}\n")
	_, err := w.Write(b.Bytes())
	return err
}

// writeEventTable writes one row an event: time (UTC), actor with its
// type, action, target, outcome, id, seq.
func writeEventTable(w io.Writer, events []json.RawMessage) error {
	return writeEventTableWhy(w, events, nil)
}

// writeEventTableWhy is writeEventTable with a first column WHY when whys
// is not nil (whys[i] for events[i]).
func writeEventTableWhy(w io.Writer, events []json.RawMessage, whys []string) error {
	if len(events) == 0 {
		fmt.Fprintln(w, "no events match")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if whys != nil {
		fmt.Fprint(tw, "WHY\t")
	}
	fmt.Fprintln(tw, "TIME (UTC)\tACTOR\tACTION\tTARGET\tOUTCOME\tID\tSEQ")
	for i, raw := range events {
		ev, err := event.Parse(raw)
		if err != nil {
			return fmt.Errorf("an event the API sent cannot be read: %w", err)
		}
		actor := ev.Actor.Name
		if actor == "" {
			actor = ev.Actor.ID
		}
		if ev.Actor.Type != "" {
			actor += " [" + ev.Actor.Type + "]"
		}
		target := ev.Target.Type
		if ev.Target.ID != "" {
			target += "/" + ev.Target.ID
		}
		tm := ""
		if !ev.Time.IsZero() {
			tm = ev.Time.UTC().Format("2006-01-02 15:04:05")
		}
		if whys != nil {
			fmt.Fprintf(tw, "%s\t", whys[i])
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\n", tm, clean(actor), clean(ev.Action), clean(target), clean(ev.Outcome), clean(ev.ID), ev.Seq)
	}
	return tw.Flush()
}

// clean keeps a value to one printable line of at most 60 characters, so
// that what a producer recorded cannot move the terminal's cursor or
// colours.
func clean(s string) string {
	r := []rune(s)
	for i, c := range r {
		if c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0) {
			r[i] = '?'
		}
	}
	if len(r) > 60 {
		r = append(r[:59], '…')
	}
	return string(r)
}

func newAuditLogTimelineCmd() *cobra.Command {
	var af apiFlags
	var output, window string
	cmd := &cobra.Command{
		Use:   "timeline ID [--window 24h] [-o table|json]",
		Short: "Show the actions related to an event, oldest first, with why each is related",
		Long: `Show the event ID and the actions related to it, oldest first: the same
correlation_id or request_id (at any time), and the same target and the same
actor within --window before and after it. The WHY column says which.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "table" && output != "json" {
				return &ExitError{Code: 2, Err: fmt.Errorf("-o %q: use table or json", output)}
			}
			path := "/v1/events/" + url.PathEscape(args[0]) + "/timeline"
			if window != "" {
				path += "?window=" + url.QueryEscape(window)
			}
			var tl struct {
				Window    string `json:"window"`
				Truncated bool   `json:"truncated"`
				Events    []struct {
					Why   []string        `json:"why"`
					Event json.RawMessage `json:"event"`
				} `json:"events"`
			}
			var raw json.RawMessage
			if err := af.get(path, &raw); err != nil {
				return &ExitError{Code: 2, Err: err}
			}
			out := cmd.OutOrStdout()
			if output == "json" {
				_, err := out.Write(append(raw, '\n'))
				return err
			}
			if err := json.Unmarshal(raw, &tl); err != nil {
				return err
			}
			events := make([]json.RawMessage, len(tl.Events))
			whys := make([]string, len(tl.Events))
			for i, e := range tl.Events {
				events[i] = e.Event
				whys[i] = strings.Join(e.Why, ",")
				if len(e.Why) == 0 {
					whys[i] = "> this event"
				}
			}
			if err := writeEventTableWhy(out, events, whys); err != nil {
				return err
			}
			if tl.Truncated {
				fmt.Fprintf(out, "(more events are related; these are the nearest in time; narrow --window)\n")
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&window, "window", "", "how far before and after the event to look for the same target and actor (default 24h)")
	cmd.Flags().StringVarP(&output, "output", "o", "table", "table or json")
	af.add(cmd)
	return cmd
}

func newAuditLogStateCmd() *cobra.Command {
	var af apiFlags
	var at, tz, output string
	cmd := &cobra.Command{
		Use:   "state TARGET --at TIME [--tz ZONE] [-o pretty|json]",
		Short: "Rebuild a target's configuration as of a time from the recorded changes",
		Long: `Rebuild the configuration of TARGET (TYPE/ID, or ID when it has one type) as of
--at (RFC 3339, or a date: its midnight in --tz; default now) from the recorded
changes: the changes.after of the last event of the target at or before that
time (docs/QUERY.md, "State at a point in time"). It says so, and exits 1, when
the record cannot support a state.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "pretty" && output != "json" {
				return &ExitError{Code: 2, Err: fmt.Errorf("-o %q: use pretty or json", output)}
			}
			q := url.Values{}
			if typ, id, ok := strings.Cut(args[0], "/"); ok && typ != "" && id != "" {
				q.Set("target_type", typ)
				q.Set("target_id", id)
			} else {
				q.Set("target_id", args[0])
			}
			if at != "" {
				q.Set("at", at)
			}
			if tz != "" {
				q.Set("tz", tz)
			}
			var raw json.RawMessage
			if err := af.get("/v1/state?"+q.Encode(), &raw); err != nil {
				return &ExitError{Code: 2, Err: err}
			}
			var st struct {
				TargetType string            `json:"target_type"`
				TargetID   string            `json:"target_id"`
				At         string            `json:"at"`
				Known      bool              `json:"known"`
				Deleted    bool              `json:"deleted"`
				State      json.RawMessage   `json:"state"`
				From       json.RawMessage   `json:"from"`
				Events     []json.RawMessage `json:"events"`
				Total      int               `json:"total"`
				Why        string            `json:"why"`
			}
			if err := json.Unmarshal(raw, &st); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if output == "json" {
				out.Write(append(raw, '\n'))
			} else {
				name := clean(st.TargetType + "/" + st.TargetID)
				switch {
				case !st.Known:
					fmt.Fprintf(out, "%s at %s: the record cannot say: %s\n", name, st.At, st.Why)
				default:
					from, _ := event.Parse(st.From)
					what := "state"
					if st.Deleted {
						what = "deleted"
					}
					fmt.Fprintf(out, "%s at %s: %s, from event %s (seq %d, %s, %s); built from %d event(s), %d up to then\n",
						name, st.At, what, clean(from.ID), from.Seq, clean(from.Action), from.Time.UTC().Format(time.RFC3339), len(st.Events), st.Total)
					var text string
					switch {
					case st.Deleted:
					case json.Unmarshal(st.State, &text) == nil:
						// A document recorded as a string (YAML, say): as it is.
						fmt.Fprintln(out, strings.TrimRight(text, "\n"))
					default:
						var b bytes.Buffer
						if json.Indent(&b, st.State, "", "  ") == nil {
							b.WriteByte('\n')
							out.Write(b.Bytes())
						}
					}
				}
			}
			if !st.Known {
				return &ExitError{Code: 1}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&at, "at", "", "the time: RFC 3339, or a date (YYYY-MM-DD, its midnight in --tz); default now")
	cmd.Flags().StringVar(&tz, "tz", "", "IANA time zone of a date (default UTC)")
	cmd.Flags().StringVarP(&output, "output", "o", "pretty", "pretty or json")
	af.add(cmd)
	return cmd
}

func newAuditLogProofCmd() *cobra.Command {
	var af apiFlags
	var outFile string
	cmd := &cobra.Command{
		Use:   "proof ID [-o FILE]",
		Short: "Print the event proof of one event: checkable offline with kt verify --proof",
		Long: `Print one self-contained document that proves the event ID is in the ledger,
unaltered: its entry line and a c2sp.org/tlog-proof tying it to the newest
signed checkpoint. Anyone with the ledger's public key checks it offline:

  kt audit-log proof evt_1 -o evt_1.proof
  kt verify --proof evt_1.proof --trust signing.key.pub`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var line json.RawMessage
			if err := af.get("/v1/events/"+url.PathEscape(args[0]), &line); err != nil {
				return &ExitError{Code: 2, Err: err}
			}
			ev, err := event.Parse(line)
			if err != nil {
				return &ExitError{Code: 2, Err: fmt.Errorf("the event the API sent cannot be read: %w", err)}
			}
			var doc []byte
			if err := af.get("/v1/proof/"+strconv.FormatUint(ev.Seq, 10), &doc); err != nil {
				return &ExitError{Code: 2, Err: err}
			}
			if outFile == "" {
				_, err := cmd.OutOrStdout().Write(doc)
				return err
			}
			if err := os.WriteFile(outFile, doc, 0o644); err != nil {
				return &ExitError{Code: 2, Err: err}
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "wrote the proof of %s (seq %d) to %s\n", clean(args[0]), ev.Seq, outFile)
			return nil
		},
	}
	cmd.Flags().StringVarP(&outFile, "output", "o", "", "write it to FILE (default: standard output)")
	af.add(cmd)
	return cmd
}

func newAuditLogDiffCmd() *cobra.Command {
	var af apiFlags
	var output string
	var color string
	cmd := &cobra.Command{
		Use:   "diff ID [-o table|json|patch] [--color auto|always|never]",
		Short: "Show the field-level before/after diff of an event's changes, side by side",
		Long: `Show every path the event's changes added, removed or modified, with the
values before and after, side by side (docs/QUERY.md, "Diff"): nested objects
and lists, lists of named objects matched by name or id, YAML or JSON documents
recorded as strings compared field by field. -o json prints the API's answer,
-o patch the same change as a JSON Patch (RFC 6902). Colour on a terminal.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "table" && output != "json" && output != "patch" {
				return &ExitError{Code: 2, Err: fmt.Errorf("-o %q: use table, json or patch", output)}
			}
			if color != "auto" && color != "always" && color != "never" {
				return &ExitError{Code: 2, Err: fmt.Errorf("--color %q: use auto, always or never", color)}
			}
			var raw []byte
			if err := af.get("/v1/events/"+url.PathEscape(args[0])+"/diff", &raw); err != nil {
				return &ExitError{Code: 2, Err: err}
			}
			var d struct {
				HasChanges bool            `json:"has_changes"`
				Format     string          `json:"format"`
				Changes    []diff.Change   `json:"changes"`
				Patch      json.RawMessage `json:"patch"`
			}
			if err := json.Unmarshal(raw, &d); err != nil {
				return &ExitError{Code: 2, Err: fmt.Errorf("not a kt answer: %w", err)}
			}
			out := cmd.OutOrStdout()
			switch output {
			case "json":
				_, err := out.Write(raw)
				return err
			case "patch":
				var b bytes.Buffer
				json.Indent(&b, d.Patch, "", "  ")
				b.WriteByte('\n')
				_, err := out.Write(b.Bytes())
				return err
			}
			if !d.HasChanges {
				fmt.Fprintln(out, "the event records no changes")
				return nil
			}
			if len(d.Changes) == 0 {
				fmt.Fprintln(out, "no difference between before and after")
				return nil
			}
			paint := color == "always" || (color == "auto" && isTerminal(out))
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintf(tw, "CHANGE\tPATH\tBEFORE\tAFTER\n")
			for _, c := range d.Changes {
				kind := string(c.Kind)
				if paint {
					kind = map[diff.Kind]string{diff.Added: "\x1b[32m", diff.Removed: "\x1b[31m", diff.Modified: "\x1b[33m"}[c.Kind] + kind + "\x1b[0m"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", kind, clean(c.Path), value(c.Before), value(c.After))
			}
			tw.Flush()
			if d.Format != "" && d.Format != diff.FormatJSON {
				fmt.Fprintf(out, "(before and after were %s documents, compared field by field)\n", d.Format)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "table, json or patch (RFC 6902)")
	cmd.Flags().StringVar(&color, "color", "auto", "auto (on a terminal), always or never")
	af.add(cmd)
	return cmd
}

// value shows a JSON value in one cell: "-" when absent.
func value(v json.RawMessage) string {
	if len(v) == 0 {
		return "-"
	}
	return clean(string(v))
}

// isTerminal says whether w is a terminal (a character device).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
