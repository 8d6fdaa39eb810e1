package itest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// BrokerProc is a `sluice broker` process started by a test.
type BrokerProc struct {
	t       testing.TB
	Addr    string
	DataDir string
	cmd     *exec.Cmd
	out     *lockedBuffer
	extra   []string
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// FreeAddr returns a 127.0.0.1 address nothing listens on right now.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// StartBroker runs `sluice broker` on a free port over dataDir (a new temp
// dir when empty) and waits until it answers Kafka requests. The process is
// killed when the test ends.
func StartBroker(t testing.TB, dataDir string, extra ...string) *BrokerProc {
	t.Helper()
	if dataDir == "" {
		dataDir = t.TempDir()
	}
	b := &BrokerProc{t: t, Addr: FreeAddr(t), DataDir: dataDir, extra: extra}
	b.start()
	t.Cleanup(func() {
		if b.cmd != nil && b.cmd.ProcessState == nil {
			_ = b.cmd.Process.Kill()
			_ = b.cmd.Wait()
		}
		if t.Failed() {
			t.Logf("broker output:\n%s", b.out.String())
		}
	})
	return b
}

func (b *BrokerProc) start() {
	b.t.Helper()
	b.out = &lockedBuffer{}
	args := append([]string{"broker", "--data-dir", b.DataDir, "--listen", b.Addr,
		"--config", "group.initial.rebalance.delay.ms=0"}, b.extra...)
	b.cmd = exec.Command(Binary(b.t), args...)
	b.cmd.Stdout, b.cmd.Stderr = b.out, b.out
	if err := b.cmd.Start(); err != nil {
		b.t.Fatalf("starting broker: %v", err)
	}
	deadline := time.Now().Add(30 * time.Second)
	if secured(b.extra) {
		// A TLS or SASL listener refuses the plaintext probe below: wait
		// until it accepts connections (the data dir is loaded by then).
		for {
			c, err := net.DialTimeout("tcp", b.Addr, time.Second)
			if err == nil {
				_ = c.Close()
				return
			}
			if time.Now().After(deadline) {
				b.t.Fatalf("broker on %s not listening after 30s: %v\n%s", b.Addr, err, b.out.String())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	for {
		cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr))
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_, err = kadm.NewClient(cl).ListBrokers(ctx)
			cancel()
			cl.Close()
			if err == nil {
				return
			}
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("broker on %s not ready after 30s: %v\n%s", b.Addr, err, b.out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// secured reports whether broker args make the listener TLS or SASL.
func secured(args []string) bool {
	for _, a := range args {
		if strings.HasPrefix(a, "--tls-cert") || strings.HasPrefix(a, "--sasl-mechanisms") {
			return true
		}
	}
	return false
}

// Stop sends sig and waits for the process; it returns the exit code and
// how long the stop took.
func (b *BrokerProc) Stop(sig syscall.Signal) (int, time.Duration) {
	b.t.Helper()
	start := time.Now()
	_ = b.cmd.Process.Signal(sig)
	err := b.cmd.Wait()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	}
	return code, time.Since(start)
}

// Restart starts the broker again on the same address and data dir.
func (b *BrokerProc) Restart() {
	b.t.Helper()
	b.start()
}

// Output is what the broker printed so far.
func (b *BrokerProc) Output() string { return b.out.String() }

// TestCompatSluiceBroker runs the client suite against a broker process,
// then restarts it and checks that every client's acknowledged records and
// its group's committed offsets survived.
func TestCompatSluiceBroker(t *testing.T) {
	t.Parallel()
	b := StartBroker(t, "")
	results := compatSuite(t, b.Addr)
	if t.Failed() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	committed := map[string]kadm.OffsetResponses{}
	adm := newAdmin(t, b.Addr)
	for _, r := range results {
		o, err := adm.FetchOffsets(ctx, r.group)
		if err != nil || len(o) == 0 {
			t.Fatalf("group %s: committed offsets %v, %v", r.group, o, err)
		}
		committed[r.group] = o
	}
	if code, took := b.Stop(syscall.SIGTERM); code != 0 || took > 20*time.Second {
		t.Fatalf("SIGTERM: exit %d after %s", code, took)
	}
	b.Restart()
	adm = newAdmin(t, b.Addr)
	for _, r := range results {
		after, err := adm.FetchOffsets(ctx, r.group)
		if err != nil {
			t.Fatal(err)
		}
		committed[r.group].Each(func(o kadm.OffsetResponse) {
			if a, ok := after.Lookup(o.Topic, o.Partition); !ok || a.At != o.At {
				t.Errorf("group %s, %s[%d]: committed %d before the restart, %v after", r.group, o.Topic, o.Partition, o.At, a.At)
			}
		})
		checkConsumed(t, r.want, readAll(t, b.Addr, r.topic, len(r.want)))
	}
}

func TestAdminCLISluiceBroker(t *testing.T) {
	t.Parallel()
	b := StartBroker(t, "")
	testAdminCLI(t, b.Addr)
}

// TestBrokerRestart: records and committed offsets acknowledged before a
// graceful stop, and before a SIGKILL, are all served after a restart.
func TestBrokerRestart(t *testing.T) {
	t.Parallel()
	b := StartBroker(t, "")
	topic, group := "restart-"+suffix(), "restart-g"
	adm := newAdmin(t, b.Addr)
	createTopic(t, adm, topic, compatPartitions)

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	produce := func(from, n int) []sent {
		cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr), kgo.DefaultProduceTopic(topic),
			kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		out := make([]sent, 0, n)
		for i := from; i < from+n; i++ {
			s := sent{key: fmt.Sprintf("k%d", i%17), value: fmt.Sprintf("v%06d", i), header: fmt.Sprint(i)}
			r := &kgo.Record{Key: []byte(s.key), Value: []byte(s.value), Headers: []kgo.RecordHeader{{Key: "seq", Value: []byte(s.header)}}}
			if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatalf("producing %s: %v", s.value, err)
			}
			s.partition, s.offset = r.Partition, r.Offset
			out = append(out, s)
		}
		return out
	}
	want := produce(0, 200)

	// Consume half in a group and commit, then leave.
	c, err := kgo.NewClient(kgo.SeedBrokers(b.Addr), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.DisableAutoCommit(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for n < 100 {
		fs := c.PollRecords(ctx, 100-n)
		if ctx.Err() != nil {
			t.Fatal("consuming before restart timed out")
		}
		n += fs.NumRecords()
	}
	if err := c.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatal(err)
	}
	c.Close()
	committedBefore, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		t.Fatal(err)
	}

	code, took := b.Stop(syscall.SIGTERM)
	if code != 0 || took > 20*time.Second {
		t.Fatalf("SIGTERM: exit %d after %s; want 0 within 20s\n%s", code, took, b.Output())
	}
	b.Restart()
	want = append(want, produce(200, 100)...)

	// SIGKILL: everything acknowledged so far must survive.
	if code, _ := b.Stop(syscall.SIGKILL); code == 0 {
		t.Fatalf("SIGKILL reported exit 0")
	}
	b.Restart()

	adm = newAdmin(t, b.Addr)
	committedAfter, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	committedBefore.Each(func(o kadm.OffsetResponse) {
		a, ok := committedAfter.Lookup(o.Topic, o.Partition)
		if !ok || a.At != o.At {
			t.Errorf("committed offset of %s[%d]: %d before restart, %v after", o.Topic, o.Partition, o.At, a.At)
		}
	})

	// Every acknowledged record, read from the start.
	r, err := kgo.NewClient(kgo.SeedBrokers(b.Addr), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var have []got
	for len(have) < len(want) {
		fs := r.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("after restarts read %d of %d acknowledged records", len(have), len(want))
		}
		fs.EachRecord(func(r *kgo.Record) {
			h := ""
			if len(r.Headers) == 1 {
				h = string(r.Headers[0].Value)
			}
			have = append(have, got{string(r.Key), string(r.Value), h, r.Partition, r.Offset})
		})
	}
	sortConsumed(have)
	checkConsumed(t, want, have)
}

// TestBrokerStartErrors: a taken port and a data dir that is a file each
// exit 1 with a message naming the address or path.
func TestBrokerStartErrors(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	taken := ln.Addr().String()
	code, out := Sluice(t, "broker", "--data-dir", t.TempDir(), "--listen", taken)
	if code != 1 || !strings.Contains(out, taken) {
		t.Fatalf("taken port: exit %d, output %q; want 1 naming %s", code, out, taken)
	}

	file := filepath.Join(t.TempDir(), "not-a-dir")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out = Sluice(t, "broker", "--data-dir", file, "--listen", FreeAddr(t))
	if code != 1 || !strings.Contains(out, file) {
		t.Fatalf("data dir is a file: exit %d, output %q; want 1 naming %s", code, out, file)
	}
	if code, _ := Sluice(t, "broker", "--no-such-flag"); code != 2 {
		t.Fatalf("unknown flag: exit %d, want 2", code)
	}
}
