package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/connectors"
)

// defaultAdmin is where `sluice run` serves its admin API by default.
const defaultAdmin = "127.0.0.1:8083"

// adminTimeout bounds one admin API round trip.
const adminTimeout = 10 * time.Second

func newStatusCmd() *cobra.Command {
	var (
		addr   string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the running `sluice run`: source positions and lag, sink consumer lag, snapshot and replay progress",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var st connectors.Status
			if err := adminCall(cmd.Context(), http.MethodGet, addr, connectors.APIStatus, http.StatusOK, &st); err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(st)
			}
			renderStatus(cmd.OutOrStdout(), st, time.Now())
			return nil
		},
	}
	cmd.Flags().StringVar(&addr, "admin", defaultAdmin, "admin `HOST:PORT` of the running sluice run")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the status as JSON")
	return cmd
}

// adminCall sends method path to the admin API at addr, expects status
// want, and decodes the JSON body into out (if not nil).
func adminCall(ctx context.Context, method, addr, path string, want int, out any) error {
	ctx, cancel := context.WithTimeout(ctx, adminTimeout)
	defer cancel()
	url := "http://" + addr + path
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		return &usageError{fmt.Errorf("--admin %q: %w", addr, err)}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("reaching the running sluice at %s (is `sluice run` up? --admin): %w", addr, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("reading the answer of %s: %w", url, err)
	}
	if resp.StatusCode != want {
		var ae connectors.APIError
		if json.Unmarshal(body, &ae) == nil && ae.Error != "" {
			return fmt.Errorf("%s: %s", addr, ae.Error)
		}
		return fmt.Errorf("%s %s: %s: %s", method, url, resp.Status, strings.TrimSpace(string(body)))
	}
	if out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			return fmt.Errorf("decoding the answer of %s: %w", url, err)
		}
	}
	return nil
}

// renderStatus writes st for people.
func renderStatus(w io.Writer, st connectors.Status, now time.Time) {
	if len(st.Pipelines) == 0 {
		fmt.Fprintln(w, "no pipelines")
		return
	}
	for i, p := range st.Pipelines {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "pipeline %s\n", p.Name)
		if s := p.Source; s != nil {
			fmt.Fprintf(w, "  source %s: %s%s\n", s.Name, s.State, restartsText(s.ComponentStatus, now))
			pos := string(s.Position)
			var b bytes.Buffer
			if json.Compact(&b, s.Position) == nil {
				pos = b.String()
			}
			fmt.Fprintf(w, "    position    %s", pos)
			if s.CheckpointAt != nil {
				fmt.Fprintf(w, " (checkpoint %s ago)", now.Sub(*s.CheckpointAt).Round(time.Second))
			}
			fmt.Fprintln(w)
			fmt.Fprintf(w, "    lag         %.1fs, %d records pending\n", s.LagSeconds, s.Pending)
			fmt.Fprintf(w, "    records     %d read, %d produced\n", s.Read, s.Produced)
			if s.Snapshot != nil {
				fmt.Fprintf(w, "    snapshot    %s\n", progressText(*s.Snapshot))
			}
			if s.LastError != "" {
				fmt.Fprintf(w, "    last error  %s\n", s.LastError)
			}
		}
		for _, k := range p.Sinks {
			fmt.Fprintf(w, "  sink %s (group %s): %s%s\n", k.Name, k.Group, k.State, restartsText(k.ComponentStatus, now))
			fmt.Fprintf(w, "    records     %d written, %d rejected (dead-lettered)\n", k.Written, k.Failed)
			if k.Rebuild != nil {
				fmt.Fprintf(w, "    rebuild     %s\n", progressText(*k.Rebuild))
			}
			if k.LastError != "" {
				fmt.Fprintf(w, "    last error  %s\n", k.LastError)
			}
			if len(k.Partitions) == 0 {
				fmt.Fprintf(w, "    no partition consumed yet (topics %s)\n", strings.Join(k.Topics, ", "))
				continue
			}
			tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "    TOPIC\tPARTITION\tCOMMITTED\tHIGH WATERMARK\tLAG")
			for _, pt := range k.Partitions {
				fmt.Fprintf(tw, "    %s\t%d\t%d\t%d\t%d\n", pt.Topic, pt.Partition, pt.Committed, pt.HighWatermark, pt.Lag)
			}
			_ = tw.Flush()
		}
	}
}

// restartsText is the parenthesis after a component's state: restarts,
// consecutive failed attempts and when the next one is due (from now).
func restartsText(c connectors.ComponentStatus, now time.Time) string {
	var parts []string
	if c.Restarts > 0 {
		parts = append(parts, fmt.Sprintf("%d restarts", c.Restarts))
	}
	if c.Retries > 0 {
		parts = append(parts, fmt.Sprintf("%d failed attempts", c.Retries))
	}
	if c.NextAttemptAt != nil {
		parts = append(parts, "next attempt in "+max(c.NextAttemptAt.Sub(now), 0).Round(100*time.Millisecond).String())
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// progressText renders a progress bar with the rate and the ETA:
//
//	[#########...........]  45.0%  4500/10000  1200/s  ETA 4s
func progressText(p connectors.Progress) string {
	if p.Phase == connectors.RebuildPending {
		return "pending (starts at the sink's next poll)"
	}
	const width = 20
	frac := 1.0
	if p.Total > 0 {
		frac = min(float64(p.Done)/float64(p.Total), 1)
	}
	n := int(frac * width)
	bar := "[" + strings.Repeat("#", n) + strings.Repeat(".", width-n) + "]"
	s := fmt.Sprintf("%s %5.1f%%  %d/%d  %.0f/s", bar, frac*100, p.Done, p.Total, p.RatePerSec)
	switch {
	case p.Phase == connectors.RebuildDone:
		s += "  done"
	case p.ETASeconds >= 0:
		s += "  ETA " + (time.Duration(p.ETASeconds * float64(time.Second))).Round(time.Second).String()
	default:
		s += "  ETA unknown"
	}
	return s
}
