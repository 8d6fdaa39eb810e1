package connectors_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/internal/kafkaclient"
)

// The crash test runs the runtime in a child process (this test binary,
// re-executed with crashChildEnv set) between a file-backed source and a
// file-backed sink, kills it with SIGKILL mid-stream, restarts it, and
// checks at the sink that nothing was lost. The broker (kfake) lives in the
// parent, so it survives the kill as a real broker would.

const crashChildEnv = "SLUICE_CONNECTORS_CRASH_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(crashChildEnv) != "" {
		os.Exit(crashChild())
	}
	os.Exit(m.Run())
}

// crashChild runs one pipeline until SIGTERM (exit 0) or SIGKILL.
func crashChild() int {
	dir := os.Getenv("SLUICE_CRASH_DIR")
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	rt, err := connectors.NewRuntime(connectors.RuntimeConfig{
		Kafka:        kafkaclient.Config{Brokers: []string{os.Getenv("SLUICE_CRASH_BROKER")}},
		Logger:       log,
		DrainTimeout: 5 * time.Second,
		Backoff:      connectors.Backoff{Min: 10 * time.Millisecond, Max: 200 * time.Millisecond},
		// The killed child's member stays in the group until its session
		// times out; keep that short so the restart rejoins quickly.
		ClientOpts: []kgo.Opt{kgo.SessionTimeout(6 * time.Second), kgo.HeartbeatInterval(500 * time.Millisecond)},
	}, []connectors.PipelineSpec{{
		Name: "crash", SourceName: "file", Partitions: 4,
		NewSource: func() (connectors.Source, error) {
			return &fileSource{path: filepath.Join(dir, "upstream.jsonl")}, nil
		},
		Sinks: []connectors.SinkSpec{{
			Name: "file", Topics: []string{"crash.items"}, MaxPollRecords: 50,
			NewSink: func() (connectors.Sink, error) { return &fileSink{path: filepath.Join(dir, "sink.log")}, nil },
		}},
	}})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := rt.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// fileSource tails a JSON-lines file of {"id":..,"v":..}; its position is
// {"line":N}, the number of lines consumed.
type fileSource struct {
	path    string
	f       *os.File
	r       *bufio.Reader
	line    int
	partial []byte
}

func (s *fileSource) Open(_ context.Context, from connectors.Position) error {
	var p struct{ Line int }
	if from != nil {
		if err := json.Unmarshal(from, &p); err != nil {
			return err
		}
	}
	f, err := os.Open(s.path)
	if err != nil {
		return err
	}
	s.f, s.r = f, bufio.NewReader(f)
	for s.line < p.Line {
		if _, err := s.r.ReadBytes('\n'); err != nil {
			return fmt.Errorf("skipping to line %d: %w", p.Line, err)
		}
		s.line++
	}
	return nil
}

func (s *fileSource) Read(ctx context.Context) (connectors.Batch, error) {
	for {
		var b connectors.Batch
		for len(b.Records) < 10 {
			chunk, err := s.r.ReadBytes('\n')
			s.partial = append(s.partial, chunk...)
			if err == io.EOF {
				break
			} else if err != nil {
				return b, err
			}
			var c struct{ ID, V int }
			if err := json.Unmarshal(s.partial, &c); err != nil {
				return b, err
			}
			s.partial, s.line = nil, s.line+1
			b.Records = append(b.Records, connectors.Record{
				Topic: "crash.items", Partition: -1,
				Key: fmt.Appendf(nil, `{"id":%d}`, c.ID), Value: fmt.Appendf(nil, `{"id":%d,"v":%d}`, c.ID, c.V),
			})
		}
		if len(b.Records) > 0 {
			// Throttle, so the parent's SIGKILL lands mid-stream.
			time.Sleep(5 * time.Millisecond)
			b.Position = fmt.Appendf(nil, `{"line":%d}`, s.line)
			return b, nil
		}
		select {
		case <-ctx.Done():
			return b, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func (s *fileSource) Ack(context.Context, connectors.Position) error { return nil }

func (s *fileSource) Close(context.Context) error {
	if s.f != nil {
		return s.f.Close()
	}
	return nil
}

// fileSink appends "key value" lines; a killed process loses nothing it
// wrote (the page cache survives SIGKILL).
type fileSink struct {
	path string
	f    *os.File
}

func (s *fileSink) Open(context.Context) error {
	f, err := os.OpenFile(s.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	s.f = f
	return err
}

func (s *fileSink) Write(_ context.Context, b connectors.Batch) error {
	var buf bytes.Buffer
	for _, r := range b.Records {
		fmt.Fprintf(&buf, "%s %s\n", r.Key, r.Value)
	}
	_, err := s.f.Write(buf.Bytes())
	return err
}

func (s *fileSink) Close(context.Context) error { return s.f.Close() }

func TestKillMidStreamLosesNothing(t *testing.T) {
	t.Parallel()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	dir := t.TempDir()
	upPath, sinkPath := filepath.Join(dir, "upstream.jsonl"), filepath.Join(dir, "sink.log")
	up, err := os.OpenFile(upPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	const keys = 50
	version := 0
	appendRound := func(rounds int) {
		var buf bytes.Buffer
		for range rounds {
			version++
			for id := range keys {
				fmt.Fprintf(&buf, `{"id":%d,"v":%d}`+"\n", id, version)
			}
		}
		if _, err := up.Write(buf.Bytes()); err != nil {
			t.Fatal(err)
		}
	}
	sinkLines := func() []string {
		b, _ := os.ReadFile(sinkPath)
		return strings.Split(strings.TrimSpace(string(b)), "\n")
	}
	start := func() (*exec.Cmd, *bytes.Buffer) {
		exe, err := os.Executable()
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(exe, "-test.run=^$")
		cmd.Env = append(os.Environ(), crashChildEnv+"=1", "SLUICE_CRASH_DIR="+dir, "SLUICE_CRASH_BROKER="+c.ListenAddrs()[0])
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd, &out
	}

	appendRound(20)
	child, out := start()
	eventually(t, "the first child wrote some records", func() bool { return len(sinkLines()) >= 300 })
	appendRound(20)
	eventually(t, "the first child is streaming the second round", func() bool { return len(sinkLines()) >= 1100 })
	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = child.Wait()
	killedAt := len(sinkLines())
	appendRound(20)

	child, out2 := start()
	var once sync.Once
	defer once.Do(func() { _ = child.Process.Kill(); _ = child.Wait() })
	final := map[string]string{}
	for id := range keys {
		final[fmt.Sprintf(`{"id":%d}`, id)] = fmt.Sprintf(`{"id":%d,"v":%d}`, id, version)
	}
	defer func() {
		if t.Failed() {
			t.Logf("first child:\n%s\nsecond child:\n%s\nsink lines: %d", out, out2, len(sinkLines()))
		}
	}()
	eventually(t, "the restarted child delivered every key's last version", func() bool {
		last := map[string]string{}
		for _, l := range sinkLines() {
			k, v, _ := strings.Cut(l, " ")
			last[k] = v
		}
		for k, v := range final {
			if last[k] != v {
				return false
			}
		}
		return true
	})
	if err := child.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var werr error
	once.Do(func() { werr = child.Wait() })
	if werr != nil {
		t.Fatalf("restarted child after SIGTERM: %v\n%s", werr, out2)
	}

	// Every change reached the sink at least once, in order per key.
	lines := sinkLines()
	seen := map[string]bool{}
	lastV := map[string]int{}
	redelivered := 0
	for _, l := range lines {
		seen[l] = true
		var v struct{ ID, V int }
		_, val, _ := strings.Cut(l, " ")
		if err := json.Unmarshal([]byte(val), &v); err != nil {
			t.Fatalf("sink line %q: %v", l, err)
		}
		k := fmt.Sprint(v.ID)
		if v.V <= lastV[k] {
			redelivered++ // at-least-once after the kill: a replay, never a gap
		}
		lastV[k] = v.V
	}
	for id := range keys {
		for v := 1; v <= version; v++ {
			if l := fmt.Sprintf(`{"id":%d} {"id":%d,"v":%d}`, id, id, v); !seen[l] {
				t.Fatalf("change id=%d v=%d never reached the sink", id, v)
			}
		}
	}
	t.Logf("sink lines %d (killed at %d), re-delivered after the kill: %d", len(lines), killedAt, redelivered)
}
