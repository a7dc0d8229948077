package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/keeptrusts/kt/query"
	"github.com/spf13/cobra"
)

// apiFlags are the flags of the client commands that talk to the query API.
type apiFlags struct {
	api, token string
}

func (f *apiFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.api, "api", "http://127.0.0.1:8781", "query API address")
	cmd.Flags().StringVar(&f.token, "token", "", "query API bearer token (default $KT_API_TOKEN)")
}

// get fetches path from the query API and decodes its JSON into v; a
// *[]byte gets the body as it is.
func (f *apiFlags) get(path string, v any) error { return f.do(http.MethodGet, path, nil, v) }

// do sends a request to the query API (body as JSON when not nil) and
// decodes the JSON answer into v.
func (f *apiFlags) do(method, path string, body, v any) error {
	token := f.token
	if token == "" {
		token = os.Getenv("KT_API_TOKEN")
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, strings.TrimSuffix(f.api, "/")+path, rd)
	if err != nil {
		return fmt.Errorf("--api %q: %w", f.api, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	c := &http.Client{Timeout: 30 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach the kt query API at %s (is the agent running, with a query_api block?): %w", f.api, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	switch {
	case resp.StatusCode == http.StatusUnauthorized:
		return fmt.Errorf("%s: 401: give the query API token with --token or KT_API_TOKEN", path)
	case resp.StatusCode != http.StatusOK:
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			return fmt.Errorf("%s: HTTP %d: %s", path, resp.StatusCode, e.Error)
		}
		return fmt.Errorf("%s: HTTP %d: %s", path, resp.StatusCode, strings.TrimSpace(string(b)))
	}
	if raw, ok := v.(*[]byte); ok {
		*raw = b
		return nil
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: not a kt answer: %w", path, err)
	}
	return nil
}

func newStatusCmd() *cobra.Command {
	var af apiFlags
	var output string
	cmd := &cobra.Command{
		Use:   "status [--api URL] [--token T] [-o table|json]",
		Short: "Show the running agent's ledger, sources and sinks, and what needs attention",
		Long: `Show what the running agent is doing: the problems an operator must look at
(a source, sink or the ledger stalled: work waiting and no progress for longer
than health.stall_after; damage found in the ledger and not acknowledged), the
ledger's size and last commit, each source's intake in events (accepted,
duplicates, refused, backlog), and each sink's cursor, lag (entries and age),
sent, retried, failed and dead-lettered counts and last error. It reads
GET /v1/status of the query API.

Exit 0 when all is well; 1 when there is a problem, or a sink reports an error
in the last minute or has dead-lettered records; 2 when the agent cannot be
reached.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var st query.Status
			if err := af.get("/v1/status", &st); err != nil {
				return &ExitError{Code: 2, Err: err}
			}
			out := cmd.OutOrStdout()
			switch output {
			case "json":
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				if err := enc.Encode(st); err != nil {
					return &ExitError{Code: 2, Err: err}
				}
			case "table":
				printStatus(out, st)
			default:
				return &ExitError{Code: 2, Err: fmt.Errorf("-o %q: use table or json", output)}
			}
			if len(st.Problems) > 0 {
				return &ExitError{Code: 1}
			}
			for _, s := range st.Sinks {
				if s.DeadLettered > 0 || (!s.LastErrorTime.IsZero() && st.Time.Sub(s.LastErrorTime) < time.Minute) {
					return &ExitError{Code: 1}
				}
			}
			return nil
		},
	}
	af.add(cmd)
	cmd.Flags().StringVarP(&output, "output", "o", "table", "table or json")
	return cmd
}

func printStatus(w io.Writer, st query.Status) {
	if len(st.Problems) == 0 {
		fmt.Fprintln(w, "no problems")
	} else {
		fmt.Fprintf(w, "PROBLEMS (%d):\n", len(st.Problems))
		for _, p := range st.Problems {
			fmt.Fprintf(w, "  %s\n", p)
		}
	}
	fmt.Fprintf(w, "\nkt %s, ledger %s: %d entries, checkpoint at %d", st.Version, st.Ledger.ID, st.Ledger.Entries, st.Ledger.CheckpointSize)
	if !st.Ledger.LastCommit.IsZero() {
		fmt.Fprintf(w, ", last commit %s ago", st.Time.Sub(st.Ledger.LastCommit).Round(time.Second))
	}
	if st.Ledger.Pending > 0 {
		fmt.Fprintf(w, ", %d events pending", st.Ledger.Pending)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nSOURCE\tTYPE\tACCEPTED\tDUPLICATES\tREFUSED\tBACKLOG\tSTATE")
	for _, s := range st.Sources {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d %s\t%s\n", s.Name, s.Type, s.Accepted, s.Duplicates, s.Refused, s.Backlog, s.BacklogUnit, state(s.Stalled))
	}
	fmt.Fprintln(tw, "\nSINK\tTYPE\tLAG\tLAG AGE\tSENT\tRETRIED\tFAILED\tDEAD-LETTERED\tSTATE\tLAST ERROR")
	for _, s := range st.Sinks {
		last := "-"
		if s.LastError != "" {
			last = fmt.Sprintf("%s ago: %s", st.Time.Sub(s.LastErrorTime).Round(time.Second), s.LastError)
			if len(last) > 120 {
				last = last[:117] + "..."
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d\t%d\t%d\t%d\t%s\t%s\n", s.Name, s.Type, s.LagEntries,
			(time.Duration(s.LagSeconds * float64(time.Second))).Round(time.Second), s.Sent, s.Retried, s.Failed, s.DeadLettered, state(s.Stalled), last)
	}
	if ix := st.Index; ix != nil {
		fmt.Fprintln(tw, "\nINDEX\tLAG\tLAG AGE\tINDEXED\tDEAD-LETTERED\tSTATE\tLAST ERROR")
		last := "-"
		if ix.LastError != "" {
			last = fmt.Sprintf("%s ago: %s", st.Time.Sub(ix.LastErrorTime).Round(time.Second), ix.LastError)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%d\t%s\t%s\n", ix.Name, ix.LagEntries,
			(time.Duration(ix.LagSeconds * float64(time.Second))).Round(time.Second), ix.Next, ix.DeadLettered, state(ix.Stalled), last)
	}
	tw.Flush()
}

func state(stalled bool) string {
	if stalled {
		return "STALLED"
	}
	return "ok"
}
