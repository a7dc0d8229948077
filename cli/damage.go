package cli

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/user"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/keeptrusts/kt/queue"
)

func newDamageCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "damage",
		Short: "List and acknowledge damage found in the ledger's segments",
		Long: `When the agent finds damage in its ledger's segments (bytes that are not valid
frames and are not a torn tail a crash left: bit rot, a bad disk, tampering), it
keeps every valid entry, quarantines a copy of the segment, appends a
ledger.damage entry, keeps the ids of the lost entries reserved, and reports the
damage in kt status, /readyz and the kt_ledger_damage_unacknowledged metric,
and in its log at every start, until an operator acknowledges it here. See
docs/RELIABILITY.md, "Damage".`,
	}
	var af apiFlags
	list := &cobra.Command{
		Use:   "list [--api URL] [-o table|json]",
		Short: "List the damage records, acknowledged or not",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var res struct {
				Damage []queue.DamageRecord `json:"damage"`
			}
			if err := af.get("/v1/damage", &res); err != nil {
				return &ExitError{Code: 2, Err: err}
			}
			out := cmd.OutOrStdout()
			if o, _ := cmd.Flags().GetString("output"); o == "json" {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(res)
			}
			if len(res.Damage) == 0 {
				fmt.Fprintln(out, "no damage found")
				return nil
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tFOUND\tWHAT\tACKNOWLEDGED")
			for _, d := range res.Damage {
				ack := "no"
				if d.Acknowledged() {
					ack = fmt.Sprintf("%s by %s", d.AckedAt.Format("2006-01-02 15:04:05Z07:00"), d.AckedBy)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", d.ID, d.FoundAt.Format("2006-01-02 15:04:05Z07:00"), d, ack)
			}
			return tw.Flush()
		},
	}
	list.Flags().StringP("output", "o", "table", "table or json")
	af.add(list)

	var af2 apiFlags
	var by string
	ack := &cobra.Command{
		Use:   "ack ID... [--by NAME]",
		Short: "Acknowledge damage records (the ledger records who, as a ledger.damage_acknowledged entry)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if by == "" {
				by = defaultActor()
			}
			for _, id := range args {
				var d queue.DamageRecord
				if err := af2.do("POST", "/v1/damage/"+url.PathEscape(id)+"/ack", map[string]string{"by": by}, &d); err != nil {
					return &ExitError{Code: 1, Err: err}
				}
				fmt.Fprintf(cmd.OutOrStdout(), "acknowledged %s by %s\n", id, by)
			}
			return nil
		},
	}
	ack.Flags().StringVar(&by, "by", "", "who acknowledges (default: user@host)")
	af2.add(ack)
	cmd.AddCommand(list, ack)
	return cmd
}

// defaultActor names the person running the command: user@host.
func defaultActor() string {
	name := "unknown"
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		name += "@" + h
	}
	return name
}
