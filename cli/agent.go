package cli

import (
	"fmt"
	"os"
	"runtime/pprof"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/spf13/cobra"

	"github.com/keeptrusts/kt/agent"
)

func newAgentCmd(build Build) *cobra.Command {
	var configFile, logFormat, logLevel, cpuProfile string
	cmd := &cobra.Command{
		Use:   "agent [--config FILE]",
		Short: "Run the kt daemon",
		Long: `Run the kt daemon: sources take audit events, the ledger makes them durable,
chained and signed, sinks deliver them. Without --config it runs the embedded
default: data in ./kt-data, a webhook on 127.0.0.1:8780 (POST /v1/events), the
query API on 127.0.0.1:8781 (/healthz, /readyz, /metrics) and a file sink
writing ./kt-data/out/audit.ndjson. A signing key is generated on first start.

The config is checked completely before anything starts; every mistake is
reported with file:line:col. SIGINT or SIGTERM stop it cleanly.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := newLogger(cmd.ErrOrStderr(), logFormat, logLevel)
			if err != nil {
				return &ExitError{Code: 2, Err: err}
			}
			var cfg *agent.Config
			var p *hclparse.Parser
			var diags hcl.Diagnostics
			if configFile == "" {
				cfg, p, diags = agent.LoadDefault()
			} else {
				cfg, p, diags = agent.LoadFile(configFile)
			}
			if diags.HasErrors() {
				writeDiags(cmd, p, diags)
				return &ExitError{Code: 2}
			}
			if cpuProfile != "" {
				f, err := os.Create(cpuProfile)
				if err != nil {
					return &ExitError{Code: 2, Err: err}
				}
				defer f.Close()
				if err := pprof.StartCPUProfile(f); err != nil {
					return &ExitError{Code: 2, Err: err}
				}
				defer pprof.StopCPUProfile()
			}
			if err := agent.Run(cmd.Context(), cfg, agent.Options{Version: build.Version, Logger: log}); err != nil {
				return &ExitError{Code: 1, Err: err}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&configFile, "config", "c", "", "HCL config file (default: the embedded default)")
	cmd.Flags().StringVar(&logFormat, "log-format", "text", "log format: text or json")
	cmd.Flags().StringVar(&cpuProfile, "cpu-profile", "", "write a Go CPU profile of the whole run to this file (for performance reports)")
	cmd.Flags().StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
	return cmd
}

// writeDiags prints each diagnostic as "file:line:col: error: summary",
// the detail, and the source line with a caret under the column.
func writeDiags(cmd *cobra.Command, p *hclparse.Parser, diags hcl.Diagnostics) {
	w := cmd.ErrOrStderr()
	files := p.Files()
	for _, d := range diags {
		sev := "error"
		if d.Severity == hcl.DiagWarning {
			sev = "warning"
		}
		if d.Subject == nil {
			fmt.Fprintf(w, "%s: %s\n", sev, d.Summary)
		} else {
			r := d.Subject
			fmt.Fprintf(w, "%s:%d:%d: %s: %s\n", r.Filename, r.Start.Line, r.Start.Column, sev, d.Summary)
			if f, ok := files[r.Filename]; ok {
				lines := strings.Split(string(f.Bytes), "\n")
				if r.Start.Line >= 1 && r.Start.Line <= len(lines) {
					src := strings.TrimRight(lines[r.Start.Line-1], "\r")
					fmt.Fprintf(w, "    %s\n    %s^\n", src, strings.Repeat(" ", max(r.Start.Column-1, 0)))
				}
			}
		}
		if d.Detail != "" {
			fmt.Fprintf(w, "    %s\n", d.Detail)
		}
	}
	n := len(diags)
	if n > 1 {
		fmt.Fprintf(w, "%d problems\n", n)
	}
}
