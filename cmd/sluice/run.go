package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/broker"
	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/connectors/builtin"
)

// runDrainTimeout bounds the runtime's drain after SIGINT/SIGTERM; the
// embedded broker's own stop follows, all within CONTRACTS' 20 s.
const runDrainTimeout = 12 * time.Second

// runHardStop is how long after the stop signal run gives up waiting for
// the pipelines (a connector ignoring its context): under CONTRACTS' 20 s.
const runHardStop = 18 * time.Second

// hardStopAfter returns a channel closed d after ctx is done.
func hardStopAfter(ctx context.Context, d time.Duration) <-chan struct{} {
	ch := make(chan struct{})
	context.AfterFunc(ctx, func() { time.AfterFunc(d, func() { close(ch) }) })
	return ch
}

func newRunCmd(g *globalFlags) *cobra.Command {
	var file, adminAddr string
	cmd := &cobra.Command{
		Use:   "run -f FILE",
		Short: "Run the pipelines of a pipeline file, with the embedded broker unless it names another",
		Long: `Runs every pipeline of FILE: sources capture changes into the broker, sinks
apply them to their targets. Without a broker section (or with broker.embedded)
the broker runs inside this process. Each source and sink is supervised:
restarted with capped exponential backoff after a failure.

--metrics-listen serves /metrics, /healthz, /readyz and the admin API that
'sluice status' and 'sluice sink rebuild' use. SIGINT/SIGTERM stop reading,
drain in-flight records, store final positions and exit 0.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file == "" {
				return &usageError{errors.New("-f FILE is required")}
			}
			log, err := g.logger(cmd.ErrOrStderr())
			if err != nil {
				return &usageError{err}
			}
			cfg, err := connectors.LoadConfig(file)
			if err != nil {
				return err
			}
			return runPipelines(cmd.Context(), log, cfg, adminAddr, cmd.Flags().Changed("metrics-listen"))
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "pipeline `FILE` (YAML)")
	cmd.Flags().StringVar(&adminAddr, "metrics-listen", defaultAdmin, "`ADDR` for /metrics, /healthz, /readyz and the admin API")
	return cmd
}

// runPipelines wires the embedded broker (if configured), the runtime and
// the admin server, and runs them until ctx is done. adminExplicit says the
// admin address was given on the command line: then a taken port is an
// error, not a warning.
func runPipelines(ctx context.Context, log *slog.Logger, cfg *connectors.Config, adminAddr string, adminExplicit bool) error {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	specs, err := builtin.Specs(cfg, builtin.Options{Logger: log, Registerer: reg})
	if err != nil {
		return err
	}

	var ln net.Listener
	if adminAddr != "" {
		ln, err = net.Listen("tcp", adminAddr)
		switch {
		case err != nil && adminExplicit:
			return fmt.Errorf("--metrics-listen %s: %w", adminAddr, err)
		case err != nil:
			log.Warn("admin address taken: no /metrics, /readyz or admin API (set --metrics-listen)", "addr", adminAddr, "err", err)
			ln = nil
		}
	}
	closeLn := func() {
		if ln != nil {
			_ = ln.Close()
		}
	}

	kafka := cfg.Broker.Kafka()
	var b *broker.Broker
	if e := cfg.Broker.Embedded; e != nil {
		b, err = broker.New(broker.Config{
			DataDir: e.DataDir, Listen: e.Listen,
			Logger: log.With("component", "broker"), Registerer: reg,
		})
		if err != nil {
			closeLn()
			return fmt.Errorf("starting the embedded broker: %w", err)
		}
		kafka.Brokers = []string{b.Addr()}
	}

	rt, err := connectors.NewRuntime(connectors.RuntimeConfig{
		Kafka: kafka, Logger: log, Registerer: reg, DrainTimeout: runDrainTimeout,
	}, specs)
	if err != nil {
		closeLn()
		if b != nil {
			_ = b.Close()
		}
		return err
	}

	// runCtx ends on the signal, or when the embedded broker dies: the
	// pipelines cannot go on without it.
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	var wg sync.WaitGroup
	var brokerErr error
	brokerCtx, stopBroker := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBroker()
	if b != nil {
		log.Info("embedded broker listening", "addr", b.Addr(), "data_dir", cfg.Broker.Embedded.DataDir)
		wg.Go(func() {
			brokerErr = b.Run(brokerCtx)
			if ctx.Err() == nil {
				if brokerErr == nil {
					brokerErr = errors.New("embedded broker stopped unexpectedly")
				}
				log.Error("embedded broker stopped; stopping pipelines", "err", brokerErr)
				stopRun()
			}
		})
	}
	var srv *http.Server
	if ln != nil {
		srv = &http.Server{Handler: rt.Handler(reg), ReadHeaderTimeout: 5 * time.Second}
		log.Info("admin API listening", "addr", ln.Addr().String())
		wg.Go(func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("admin server", "err", err)
			}
		})
	}

	// The runtime returns once drained; runHardStop bounds a connector that
	// ignores its context, so the process still exits (1) in time.
	rtDone := make(chan error, 1)
	go func() { rtDone <- rt.Run(runCtx) }()
	var rtErr error
	select {
	case rtErr = <-rtDone:
	case <-hardStopAfter(runCtx, runHardStop):
		log.Error("pipelines did not stop in time; exiting", "after", runHardStop)
		return fmt.Errorf("pipelines did not stop within %s of the stop signal", runHardStop)
	}

	if srv != nil {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		_ = srv.Shutdown(sctx)
		cancel()
	}
	stopBroker()
	wg.Wait()
	if ctx.Err() != nil && brokerErr != nil && errors.Is(brokerErr, context.Canceled) {
		brokerErr = nil
	}
	return errors.Join(rtErr, brokerErr)
}
