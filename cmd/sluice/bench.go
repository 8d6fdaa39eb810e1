package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/connectors"
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
	f.Int16Var(&cfg.ReplicationFactor, "replication-factor", -1, "replicas per partition of the topic (default: the broker's)")
	f.StringToStringVar(&cfg.TopicConfigs, "topic-config", nil, "topic config key=value set at creation, e.g. min.insync.replicas=2 (repeatable)")
	cmd.AddCommand(newBenchE2ECmd())
	return cmd
}

// The end-to-end bench's fixed names: its pipeline, table and Redis keys.
const (
	e2ePipeline = "sluice-bench-e2e"
	e2eTable    = "sluice_bench_e2e"
	e2eKey      = "sluice-bench-e2e:"
)

func newBenchE2ECmd() *cobra.Command {
	var (
		cfg     bench.E2EConfig
		verbose bool
		keep    bool
		cpuProf string
	)
	cmd := &cobra.Command{
		Use:   "e2e",
		Short: "Measure commit-to-visible-in-Redis latency and the highest sustained rate: Postgres → embedded broker → Redis",
		Long: `Creates the table ` + e2eTable + ` in the Postgres of --pg-dsn, runs the pipeline
` + e2ePipeline + ` in this process exactly as 'sluice run' does (embedded broker on a
temp dir, Postgres source, Redis sink), and inserts rows at each --rates step
(one multi-row INSERT per --tick, --workers connections, open loop). A row's
latency is from the return of its commit to Redis's keyspace notification of
its SET. A step is sustained when the database took >= 95% of the offered
rate, every row reached Redis within 10 s of the step's end, and p99 <= --max-p99;
the run stops after the first step that is not. Same-run anchors: the
measuring floor (the bench's own SET to its notification) and the unpaced
insert ceiling of the load generator with the pipeline running. Everything
it created is removed at the end (unless --keep).`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			lvl := slog.LevelWarn
			if verbose {
				lvl = slog.LevelInfo
			}
			log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: lvl}))
			cfg.Table, cfg.KeyPrefix, cfg.Logger = e2eTable, e2eKey, log
			if cpuProf != "" {
				f, err := os.Create(cpuProf)
				if err != nil {
					return err
				}
				defer f.Close()
				if err := pprof.StartCPUProfile(f); err != nil {
					return err
				}
				defer pprof.StopCPUProfile()
			}
			return runBenchE2E(cmd.Context(), cmd.OutOrStdout(), log, cfg, keep)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.PGDSN, "pg-dsn", os.Getenv("SLUICE_TEST_PG_DSN"), "Postgres DSN (superuser, wal_level=logical); default $SLUICE_TEST_PG_DSN")
	f.StringVar(&cfg.RedisAddr, "redis-addr", os.Getenv("SLUICE_TEST_REDIS_ADDR"), "Redis host:port (CONFIG SET allowed); default $SLUICE_TEST_REDIS_ADDR")
	f.IntSliceVar(&cfg.Rates, "rates", []int{5000, 10000, 20000, 40000}, "offered rows/s of each step, in order")
	f.DurationVar(&cfg.Step, "step", 20*time.Second, "length of each step")
	f.DurationVar(&cfg.Tick, "tick", 10*time.Millisecond, "one INSERT transaction per tick")
	f.IntVar(&cfg.Workers, "workers", 4, "Postgres connections inserting")
	f.IntVar(&cfg.PadSize, "pad", 100, "bytes of text per row besides the id")
	f.DurationVar(&cfg.MaxP99, "max-p99", time.Second, "highest p99 of a sustained step")
	f.BoolVar(&verbose, "verbose", false, "log the pipeline at info level")
	f.BoolVar(&keep, "keep", false, "keep the table, slot, publication and Redis keys")
	f.StringVar(&cpuProf, "cpuprofile", "", "write a CPU profile of the whole run (pipeline, broker and load generator: one process) to this file")
	return cmd
}

func runBenchE2E(ctx context.Context, out io.Writer, log *slog.Logger, cfg bench.E2EConfig, keep bool) (err error) {
	if cfg.PGDSN == "" || cfg.RedisAddr == "" {
		return &usageError{errors.New("bench e2e: --pg-dsn and --redis-addr are required (or SLUICE_TEST_PG_DSN and SLUICE_TEST_REDIS_ADDR)")}
	}
	dir, err := os.MkdirTemp("", "sluice-bench-e2e-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	// The pipeline file, as a user would write it (the DSN through the
	// environment, so it never lands in a file).
	file := filepath.Join(dir, "pipeline.yaml")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	listen := ln.Addr().String()
	_ = ln.Close()
	yaml := fmt.Sprintf(`version: 1
broker:
  embedded: {data_dir: %s, listen: %q}
pipelines:
  - name: %s
    source:
      type: postgres
      dsn: ${SLUICE_BENCH_E2E_DSN}
      tables: [public.%s]
    sinks:
      - name: cache
        type: redis
        addr: %s
        topics: [%s.public.%s]
        key: "%s{id}"
`, filepath.Join(dir, "data"), listen, e2ePipeline, e2eTable, cfg.RedisAddr, e2ePipeline, e2eTable, e2eKey)
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		return err
	}
	if err := os.Setenv("SLUICE_BENCH_E2E_DSN", cfg.PGDSN); err != nil {
		return err
	}
	pc, err := connectors.LoadConfig(file)
	if err != nil {
		return err
	}
	if err := bench.PrepareE2E(ctx, cfg); err != nil {
		return err
	}
	slot := "sluice_" + strings.ReplaceAll(e2ePipeline, "-", "_")
	if !keep {
		defer func() {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			if cerr := bench.CleanupE2E(cctx, cfg, slot, slot); cerr != nil {
				log.Warn("cleaning up", "err", cerr)
			}
		}()
	}

	// The pipeline, exactly as `sluice run` runs it, until the bench ends.
	runCtx, stopRun := context.WithCancel(ctx)
	runDone := make(chan error, 1)
	go func() { runDone <- runPipelines(runCtx, log, pc, "", false) }()
	defer func() {
		stopRun()
		if rerr := <-runDone; rerr != nil && err == nil {
			err = fmt.Errorf("the pipeline: %w", rerr)
		}
	}()
	benchCtx, stopBench := context.WithCancel(ctx)
	defer stopBench()
	go func() {
		// A pipeline that dies ends the bench instead of leaving it
		// waiting for rows that never come.
		select {
		case rerr := <-runDone:
			runDone <- rerr
			stopBench()
		case <-benchCtx.Done():
		}
	}()
	res, err := bench.RunE2E(benchCtx, cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "Postgres -> embedded broker -> Redis, %d B rows, %d workers, one INSERT per %s\n", cfg.PadSize, cfg.Workers, cfg.Tick)
	fmt.Fprintf(out, "measuring floor (own SET -> notification): p50=%s p99=%s\n", res.FloorP50.Round(time.Microsecond), res.FloorP99.Round(time.Microsecond))
	fmt.Fprintf(out, "%8s %10s %8s %10s %10s %10s %8s  %s\n", "offered", "achieved", "rows", "p50", "p99", "max", "backlog", "sustained")
	best := 0
	for _, st := range res.Steps {
		verdict := "yes"
		if !st.Sustained {
			verdict = "no: " + st.Why
		} else {
			best = st.Rate
		}
		fmt.Fprintf(out, "%8d %10.0f %8d %10s %10s %10s %8d  %s\n", st.Rate, st.Achieved, st.Rows,
			st.P50.Round(100*time.Microsecond), st.P99.Round(100*time.Microsecond), st.Max.Round(time.Millisecond), st.MaxBacklog, verdict)
	}
	fmt.Fprintf(out, "highest sustained offered rate: %d rows/s\n", best)
	fmt.Fprintf(out, "insert ceiling (unpaced, pipeline running): %.0f rows/s; sustained/ceiling = %.2f\n", res.InsertCeiling, float64(best)/max(res.InsertCeiling, 1))
	return nil
}
