package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/keeptrusts/kt/agent"
)

func newConfigCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Work with kt config files"}
	cmd.AddCommand(&cobra.Command{
		Use:   "validate FILE",
		Short: "Check a config file without starting anything",
		Long: `Check a config file completely (syntax, unknown blocks and attributes, types,
durations, required fields, duplicate names, env() and file() values) without
starting anything. Every problem is printed with file:line:col. Exit 0 when the
file is valid, 1 when it is not.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, p, diags := agent.LoadFile(args[0])
			if len(diags) > 0 {
				writeDiags(cmd, p, diags)
			}
			if diags.HasErrors() {
				return &ExitError{Code: 1}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: valid\n", args[0])
			return nil
		},
	})
	return cmd
}
