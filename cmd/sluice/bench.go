package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/internal/bench"
)

func newBenchCmd() *cobra.Command {
	var (
		kf  kafkaFlags
		cfg bench.Config
	)
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure a Kafka-compatible broker: produce msgs/s, MB/s, ack latency p50/p99, consume MB/s",
		Long: `Creates a fresh topic, produces keyed records (franz-go, idempotent with
acks=all by default), then consumes them all back. Run it against the Sluice
broker and Apache Kafka with the same flags to compare them.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			kc, err := kf.config()
			if err != nil {
				return err
			}
			cfg.Kafka = kc
			if cfg.Topic == "" {
				cfg.Topic = fmt.Sprintf("sluice-bench-%d", time.Now().UnixNano())
			}
			r, err := bench.Run(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(),
				"records=%d value_bytes=%d partitions=%d acks=%s\n"+
					"produce: %.0f msgs/s  %.1f MB/s  p50=%s p99=%s max=%s\n"+
					"consume: %.0f msgs/s  %.1f MB/s\n",
				r.Records, cfg.ValueBytes, cfg.Partitions, cfg.Acks,
				r.ProduceMsgs, r.ProduceMBs, r.LatencyP50.Round(time.Microsecond), r.LatencyP99.Round(time.Microsecond),
				r.LatencyMax.Round(time.Microsecond), r.ConsumeMsgs, r.ConsumeMBs)
			return err
		},
	}
	kf.register(cmd)
	f := cmd.Flags()
	f.StringVar(&cfg.Topic, "topic", "", "topic to create (default: a fresh sluice-bench-<time>)")
	f.Int32Var(&cfg.Partitions, "partitions", 6, "partitions of the topic")
	f.IntVar(&cfg.Records, "records", 1_000_000, "records to produce")
	f.IntVar(&cfg.ValueBytes, "value-bytes", 100, "value size in bytes")
	f.IntVar(&cfg.KeyCount, "keys", 10_000, "distinct keys")
	f.IntVar(&cfg.MaxInFlight, "max-in-flight", 10_000, "records produced but not yet acknowledged")
	f.DurationVar(&cfg.Linger, "linger", 0, "producer linger")
	f.StringVar(&cfg.Acks, "acks", "all", "acks: all (idempotent), 1 or 0")
	return cmd
}
