package itest

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"
)

// Service names one external service a test needs.
type Service struct {
	Name string // human name, for messages
	Env  string // variable naming an already running instance

	image string
	port  string // container port, e.g. "5432/tcp"
	env   map[string]string
	cmd   []string
	wait  wait.Strategy
	// format turns the container's mapped host:port into the value Env would hold.
	format func(hostPort string) string
}

// The services Sluice tests use. Container images are only used where a
// Docker engine is reachable; CI and the README use scripts/services.
var (
	Postgres = &Service{
		Name: "PostgreSQL", Env: "SLUICE_TEST_PG_DSN",
		image: "postgres:15", port: "5432/tcp",
		env:  map[string]string{"POSTGRES_HOST_AUTH_METHOD": "trust"},
		cmd:  []string{"postgres", "-c", "wal_level=logical", "-c", "max_replication_slots=20", "-c", "max_wal_senders=20"},
		wait: wait.ForLog("database system is ready to accept connections").WithOccurrence(2),
		format: func(hp string) string {
			return "postgres://postgres@" + hp + "/postgres?sslmode=disable"
		},
	}
	MySQL = &Service{
		Name: "MariaDB/MySQL", Env: "SLUICE_TEST_MYSQL_DSN",
		image: "mariadb:10.11", port: "3306/tcp",
		env: map[string]string{
			"MARIADB_ROOT_PASSWORD": "sluice", "MARIADB_USER": "sluice",
			"MARIADB_PASSWORD": "sluice", "MARIADB_DATABASE": "sluice",
		},
		cmd:    []string{"--log-bin=binlog", "--binlog-format=ROW", "--binlog-row-image=FULL", "--server-id=1"},
		wait:   wait.ForLog("ready for connections").WithOccurrence(2),
		format: func(hp string) string { return "root:sluice@tcp(" + hp + ")/sluice" },
	}
	Redis = &Service{
		Name: "Redis", Env: "SLUICE_TEST_REDIS_ADDR",
		image: "redis:7", port: "6379/tcp",
		wait:   wait.ForLog("Ready to accept connections"),
		format: func(hp string) string { return hp },
	}
	Elasticsearch = &Service{
		Name: "Elasticsearch", Env: "SLUICE_TEST_ES_URL",
		image: "docker.elastic.co/elasticsearch/elasticsearch:8.19.7", port: "9200/tcp",
		env: map[string]string{
			"discovery.type": "single-node", "xpack.security.enabled": "false",
			"ES_JAVA_OPTS": "-Xms512m -Xmx512m",
		},
		wait:   wait.ForHTTP("/_cluster/health").WithPort("9200/tcp").WithStartupTimeout(3 * time.Minute),
		format: func(hp string) string { return "http://" + hp },
	}
)

var (
	mu         sync.Mutex
	started    = map[*Service]string{}
	containers []testcontainers.Container
)

// Need returns how to reach s: its environment variable, else a container it
// starts (once per test binary). Without either it skips t, naming the
// variable — or fails t when CI is set, since CI must never skip silently.
func Need(t testing.TB, s *Service) string {
	t.Helper()
	if v := os.Getenv(s.Env); v != "" {
		return v
	}
	v, err := s.container()
	if err == nil {
		return v
	}
	msg := fmt.Sprintf("%s not available: set %s (e.g. eval \"$(scripts/services env)\") or run a Docker engine (%v)", s.Name, s.Env, err)
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

func (s *Service) container() (string, error) {
	if s.image == "" {
		return "", fmt.Errorf("no container image for %s", s.Name)
	}
	mu.Lock()
	defer mu.Unlock()
	if v, ok := started[s]; ok {
		return v, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := dockerHealthy(ctx); err != nil {
		return "", err
	}
	opts := []testcontainers.ContainerCustomizer{
		testcontainers.WithExposedPorts(s.port),
		testcontainers.WithEnv(s.env),
		testcontainers.WithWaitStrategy(s.wait),
	}
	if len(s.cmd) > 0 {
		opts = append(opts, testcontainers.WithCmd(s.cmd...))
	}
	c, err := testcontainers.Run(ctx, s.image, opts...)
	if c != nil {
		containers = append(containers, c)
	}
	if err != nil {
		return "", fmt.Errorf("starting %s container: %w", s.image, err)
	}
	hp, err := c.PortEndpoint(ctx, s.port, "")
	if err != nil {
		return "", fmt.Errorf("mapping %s port: %w", s.image, err)
	}
	v := s.format(hp)
	started[s] = v
	return v, nil
}

func dockerHealthy(ctx context.Context) (err error) {
	// Older testcontainers versions panic without Docker; keep that an error.
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("no Docker engine: %v", r)
		}
	}()
	p, err := testcontainers.NewDockerProvider()
	if err != nil {
		return fmt.Errorf("no Docker engine: %w", err)
	}
	defer p.Close()
	if err := p.Health(ctx); err != nil {
		return fmt.Errorf("no Docker engine: %w", err)
	}
	return nil
}

// Main runs the tests of a package that uses [Need] and then stops every
// container they started. Use it as: func TestMain(m *testing.M) { itest.Main(m) }.
func Main(m *testing.M) {
	code := m.Run()
	mu.Lock()
	for _, c := range containers {
		_ = testcontainers.TerminateContainer(c)
	}
	mu.Unlock()
	os.Exit(code)
}

// DropSlot drops a Postgres replication slot once nothing streams from it:
// a walsender keeps a slot active for a moment after its client died, and a
// slot left behind pins WAL and uses one of max_replication_slots.
func DropSlot(ctx context.Context, exec func(ctx context.Context, sql string, args ...any) error, slot string) {
	deadline := time.Now().Add(15 * time.Second)
	for {
		err := exec(ctx, "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = $1 AND active", slot)
		if err == nil {
			err = exec(ctx, "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1", slot)
		}
		if err == nil || time.Now().After(deadline) {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// DropPipelinePG removes what a Postgres pipeline left in the database: its
// slot (once the walsender let go), its publication and the given tables.
// It opens its own connection: cleanups run after the test's defers, which
// usually closed the test's connection.
func DropPipelinePG(t testing.TB, dsn, pipeline string, tables ...string) {
	c := context.Background()
	cc, err := pgx.Connect(c, dsn)
	if err != nil {
		t.Logf("cleanup of pipeline %s: %v", pipeline, err)
		return
	}
	defer cc.Close(c)
	DropSlot(c, func(ctx context.Context, q string, args ...any) error {
		_, err := cc.Exec(ctx, q, args...)
		return err
	}, "sluice_"+pipeline)
	_, _ = cc.Exec(c, "DROP PUBLICATION IF EXISTS sluice_"+pipeline)
	for _, tb := range tables {
		_, _ = cc.Exec(c, "DROP TABLE IF EXISTS "+tb)
	}
}
