package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/broker"
	"github.com/sluicehq/sluice/broker/server"
)

// shutdownGrace bounds a graceful stop: CONTRACTS.md promises exit within 20 s.
const shutdownGrace = 15 * time.Second

func newBrokerCmd(g *globalFlags) *cobra.Command {
	var (
		cfg         broker.Config
		metricsAddr string
		configs     []string
		tlsCert     string
		tlsKey      string
		tlsClientCA string
		saslMechs   string
	)
	cmd := &cobra.Command{
		Use:   "broker --data-dir DIR --listen HOST:PORT [--node-id N --controller-listen HOST:PORT --controller-quorum 1@HOST:PORT,...]",
		Short: "Run a Kafka-protocol broker",
		Long: `Runs one Sluice broker: a partitioned, compacted append-only log that speaks the
Apache Kafka protocol, so Kafka clients and tools work against it unmodified.
SIGINT/SIGTERM stop it gracefully: in-flight requests are answered and the
logs flushed. A restart on the same directory serves every acknowledged record
and every committed group offset.

Cluster: run one process per member with --node-id N, --controller-listen
HOST:PORT and the same --controller-quorum 1@HOST:PORT,2@HOST:PORT,3@HOST:PORT.
Fresh data dirs form the cluster with no init step. Metadata lives in a Raft
quorum of the voters (the Raft leader is the controller); partitions are
replicated Kafka-style (followers fetch from the leader; acks=all waits for
the in-sync replicas; min.insync.replicas refuses writes it cannot protect).

Security (one listener; Kafka's SSL / SASL_PLAINTEXT / SASL_SSL):
  --tls-cert FILE --tls-key FILE      TLS-only listener (PEM); plaintext clients are dropped
  --tls-client-ca FILE                also require client certificates signed by these CAs;
                                      the principal is User:<certificate subject>
  --sasl-mechanisms PLAIN,SCRAM-SHA-256,SCRAM-SHA-512
                                      require SASL; before it succeeds only ApiVersions,
                                      SaslHandshake and SaslAuthenticate are answered
Users are SCRAM credentials (salted, hashed; <data-dir>/credentials.json), managed
with 'sluice user' or Kafka's kafka-configs --alter --add-config SCRAM-SHA-256=...;
PLAIN passwords are checked against the same SCRAM credentials. Create the first
user offline with 'sluice user create NAME --data-dir DIR' (or while the broker
runs: it re-reads the file). ACLs: --config authorizer.enable=true (or
authorizer.class.name=...) turns on default-deny ACLs, managed with 'sluice acl'
or kafka-acls; --config super.users=User:admin;User:ops bypasses them.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			kv, err := parseConfigs(configs)
			if err != nil {
				return err
			}
			log, err := g.logger(os.Stderr)
			if err != nil {
				return &usageError{err}
			}
			cfg.Configs, cfg.Logger = kv, log
			if tlsCert != "" || tlsKey != "" || tlsClientCA != "" {
				tc, err := server.LoadTLSConfig(tlsCert, tlsKey, tlsClientCA)
				if err != nil {
					return &usageError{err}
				}
				cfg.TLS = tc
			}
			for _, m := range strings.Split(saslMechs, ",") {
				if m = strings.ToUpper(strings.TrimSpace(m)); m != "" {
					cfg.SASLMechanisms = append(cfg.SASLMechanisms, m)
				}
			}
			reg := prometheus.NewRegistry()
			reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
			cfg.Registerer = reg

			b, err := broker.New(cfg)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			var metricsDone chan error
			if metricsAddr != "" {
				srv, err := serveMetrics(metricsAddr, reg)
				if err != nil {
					_ = b.Close()
					return err
				}
				metricsDone = make(chan error, 1)
				go func() { metricsDone <- ignoreClosed(srv.Serve()) }()
				defer func() {
					sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
					defer cancel()
					_ = srv.Shutdown(sctx)
					<-metricsDone
				}()
				log.Info("metrics listening", "addr", srv.Addr())
			}
			log.Info("broker starting", "listen", b.Addr(), "data_dir", cfg.DataDir, "node_id", cfg.NodeID)
			return runUntilStopped(ctx, log, b.Run)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.DataDir, "data-dir", "./data", "directory for the logs and broker state (created when missing)")
	f.StringVar(&cfg.Listen, "listen", "127.0.0.1:9092", "address to accept Kafka clients on")
	f.StringVar(&cfg.AdvertisedListener, "advertised-listener", "", "HOST:PORT clients are told to connect to (default: --listen)")
	f.Int32Var(&cfg.NodeID, "node-id", 1, "broker id reported in Metadata (a cluster member's id in --controller-quorum)")
	f.StringVar(&cfg.ControllerListen, "controller-listen", "", "cluster member: HOST:PORT for the metadata quorum (Raft) and controller requests")
	f.StringVar(&cfg.ControllerQuorum, "controller-quorum", "", "cluster member: every voter as ID@HOST:PORT,... (their --controller-listen addresses)")
	f.StringVar(&metricsAddr, "metrics-listen", "", "address for Prometheus /metrics (off when empty)")
	f.StringVar(&tlsCert, "tls-cert", "", "server certificate chain PEM file: the listener speaks TLS only")
	f.StringVar(&tlsKey, "tls-key", "", "server private key PEM file (with --tls-cert)")
	f.StringVar(&tlsClientCA, "tls-client-ca", "", "CA PEM file: require client certificates signed by it")
	f.StringVar(&saslMechs, "sasl-mechanisms", "", "require SASL with these mechanisms: PLAIN,SCRAM-SHA-256,SCRAM-SHA-512")
	f.StringArrayVar(&configs, "config", nil, "broker config key=value, as in Kafka's server.properties (repeatable)")
	return cmd
}

// runUntilStopped runs fn until ctx (SIGINT/SIGTERM) is done and bounds the
// graceful stop that follows: fn gets a context that is cancelled on the
// signal, and must return within shutdownGrace after it (hardStopAfter, as
// `sluice run` uses).
func runUntilStopped(ctx context.Context, log *slog.Logger, fn func(context.Context) error) error {
	done := make(chan error, 1)
	go func() { done <- fn(ctx) }()
	context.AfterFunc(ctx, func() { log.Info("stopping", "grace", shutdownGrace) })
	select {
	case err := <-done:
		if err == nil && ctx.Err() != nil {
			log.Info("stopped cleanly")
		}
		return err
	case <-hardStopAfter(ctx, shutdownGrace):
		return fmt.Errorf("did not stop within %s", shutdownGrace)
	}
}

// metricsServer is an HTTP server bound before it serves, so a taken
// address fails at start.
type metricsServer struct {
	*http.Server
	ln net.Listener
}

func (m *metricsServer) Addr() string { return m.ln.Addr().String() }
func (m *metricsServer) Serve() error { return m.Server.Serve(m.ln) }

func serveMetrics(addr string, reg *prometheus.Registry) (*metricsServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics listener %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	return &metricsServer{Server: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}, ln: ln}, nil
}

func ignoreClosed(err error) error {
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}
