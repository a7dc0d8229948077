package cli

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/keeptrusts/kt/agent"
	"github.com/keeptrusts/kt/index"
	"github.com/keeptrusts/kt/internal/dirlock"
)

func newReindexCmd() *cobra.Command {
	var configFile string
	cmd := &cobra.Command{
		Use:   "reindex [--config FILE]",
		Short: "Rebuild the query index from the ledger alone (with the agent stopped)",
		Long: `Delete the query index of the data dir (of --config, or of the embedded default
without it) and build it anew from the ledger alone, up to the ledger's last
commit checkpoint; the agent indexes anything after it when it starts. The
agent must be stopped: kt reindex holds the data dir's lock, which a running
agent holds too. Deleting <data_dir>/index/ and starting the agent rebuilds
the index as well, while the agent runs.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, p, diags := agent.LoadDefault()
			if configFile != "" {
				cfg, p, diags = agent.LoadFile(configFile)
			}
			if diags.HasErrors() {
				writeDiags(cmd, p, diags)
				return &ExitError{Code: 2}
			}
			out := cmd.OutOrStdout()
			start := time.Now()
			last := start
			n, err := index.Rebuild(cmd.Context(), cfg.DataDir, func(n uint64) {
				if time.Since(last) >= 2*time.Second {
					last = time.Now()
					fmt.Fprintf(cmd.ErrOrStderr(), "indexed %d entries\n", n)
				}
			})
			if errors.Is(err, dirlock.ErrLocked) {
				return &ExitError{Code: 1, Err: fmt.Errorf("%w: stop the agent first (systemctl stop kt), then run kt reindex", err)}
			}
			if err != nil {
				return &ExitError{Code: 1, Err: err}
			}
			fmt.Fprintf(out, "%s: indexed %d entries from the ledger in %s\n", cfg.DataDir, n, time.Since(start).Round(time.Millisecond))
			return nil
		},
	}
	cmd.Flags().StringVar(&configFile, "config", "", "the agent's config file (default: the embedded default)")
	return cmd
}
