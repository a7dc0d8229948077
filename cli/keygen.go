package cli

import (
	"crypto/rand"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/keeptrusts/kt/agent"
	"github.com/keeptrusts/kt/ledger"
)

func newKeygenCmd() *cobra.Command {
	var out, name string
	cmd := &cobra.Command{
		Use:   "keygen --out FILE [--name NAME]",
		Short: "Generate an Ed25519 signing key",
		Long: `Generate an Ed25519 signing key in the signed-note format. The private key is
written to FILE (mode 0600) and the public verifier key to FILE.pub: give the
.pub file to whoever verifies (kt verify --trust FILE.pub). An existing file is
never overwritten.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if name == "" {
				name = agent.DefaultKeyName()
			}
			skey, vkey, err := ledger.GenerateKey(rand.Reader, name)
			if err != nil {
				return &ExitError{Code: 2, Err: fmt.Errorf("--name %q: %w", name, err)}
			}
			if err := agent.WriteKeyPair(out, skey, vkey); err != nil {
				return &ExitError{Code: 1, Err: err}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s (private, 0600) and %s.pub\npublic key: %s\n", out, out, vkey)
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "file for the private key (required)")
	cmd.Flags().StringVar(&name, "name", "", "key name (no spaces or '+'); it appears in every key_id (default \"kt-<host name>\", as the agent names the key it generates)")
	_ = cmd.MarkFlagRequired("out")
	return cmd
}
