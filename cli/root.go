// Package cli holds the subcommands of the kt command line.
package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/spf13/cobra"
)

// ExitError carries the process exit code a command wants.
type ExitError struct {
	Code int
	Err  error // nil when the command already said everything
}

// Error implements error.
func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit %d", e.Code)
	}
	return e.Err.Error()
}

// Unwrap returns the cause.
func (e *ExitError) Unwrap() error { return e.Err }

// Build describes the binary.
type Build struct {
	Version, Commit, Date string
}

// Execute runs the command line args (without the program name).
func Execute(ctx context.Context, build Build, args []string, stdout, stderr io.Writer) error {
	root := newRoot(build, stdout, stderr)
	root.SetArgs(args)
	return root.ExecuteContext(ctx)
}

func newRoot(build Build, stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "kt",
		Short: "kt makes a control plane's audit log tamper-evident and delivers it to the SOC",
		Long: `kt receives the administrative audit events of a control plane (webhook),
normalizes them, redacts secret values, and appends each one to a durable local
ledger where it is hash-chained and Ed25519-signed, with signed checkpoints; sinks
deliver the ledger to the SOC, and 'kt verify' proves that nothing was altered,
removed, reordered or cut off.

Start here:
  kt agent                      run on the embedded default (data in ./kt-data,
                                webhook on 127.0.0.1:8780, API on 127.0.0.1:8781)
  kt config validate FILE       check a config file without starting anything
  kt verify --data-dir kt-data  verify a ledger; or: kt verify out/audit.ndjson`,
		Version:       fmt.Sprintf("%s (commit %s, built %s)", build.Version, build.Commit, build.Date),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(newAgentCmd(build), newConfigCmd(), newKeygenCmd(), newVerifyCmd(), newStatusCmd(), newDamageCmd(), newAuditLogCmd(), newReindexCmd())
	return root
}

func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: use debug, info, warn or error", level)
	}
	o := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, o)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, o)), nil
	}
	return nil, fmt.Errorf("--log-format %q: use text or json", format)
}
