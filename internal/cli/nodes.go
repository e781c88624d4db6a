package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/plugd/plugd/internal/cluster"
)

// newNodesCmd is `plugd nodes`: every node of a cluster, its plugins and its load, as the
// daemon's /health/ready reports them (any node answers for all).
func newNodesCmd() *cobra.Command {
	var asJSON bool
	var base string
	c := &cobra.Command{
		Use:   "nodes",
		Short: "List the nodes of a plugd cluster with their plugins and load",
		Long: "Ask one node of a cluster (`plugd serve --cluster`) for every live node: its id, address,\n" +
			"whether it leads or is draining, its calls in flight and its plugins. A daemon that is\n" +
			"not a cluster answers with no nodes.",
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			u, err := daemonURL(base)
			if err != nil {
				return err
			}
			req, err := http.NewRequestWithContext(cmd.Context(), http.MethodGet, strings.TrimSuffix(u, "/")+"/health/ready", nil)
			if err != nil {
				return err
			}
			resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
			if err != nil {
				return fmt.Errorf("asking %s for its nodes: %w", u, err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
			if err != nil {
				return fmt.Errorf("reading %s/health/ready: %w", u, err)
			}
			var ready struct {
				Node  string         `json:"node"`
				Nodes []cluster.Node `json:"nodes"`
			}
			if err := json.Unmarshal(body, &ready); err != nil {
				return fmt.Errorf("%s/health/ready answered HTTP %d, not JSON: %w", u, resp.StatusCode, err)
			}
			if ready.Node == "" && !asJSON {
				return errors.New(u + " is not a cluster node (plugd serve --cluster)")
			}
			return printList(cmd.OutOrStdout(), asJSON, ready.Nodes, "no nodes", "NODE\tADDRESS\tROLE\tIN FLIGHT\tPLUGINS\tSEEN",
				func(w io.Writer, n cluster.Node) {
					role := "member"
					switch {
					case n.Draining:
						role = "draining"
					case n.Leader:
						role = "leader"
					}
					var ps []string
					for _, p := range n.Plugins {
						s := displayID(p.UniqueIdentifier) + " " + p.State
						if p.Remote {
							s += " (remote)"
						}
						ps = append(ps, s)
					}
					plugins := strings.Join(ps, ", ")
					if plugins == "" {
						plugins = "-"
					}
					fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\t%s ago\n", n.ID, n.Addr, role, n.ActiveRequests, plugins, time.Since(n.Seen).Round(100*time.Millisecond))
				})
		},
	}
	c.Flags().StringVar(&base, "url", "", "URL of any node (default $PLUGD_URL, else http://127.0.0.1:$SERVER_PORT, port 5002 when unset)")
	c.Flags().BoolVar(&asJSON, "json", false, "print the nodes as JSON")
	return c
}
