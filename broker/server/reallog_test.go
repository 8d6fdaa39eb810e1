package server

import (
	"context"
	"errors"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/broker/kafkaproto"
	"github.com/sluicehq/sluice/broker/log"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// startDiskBroker runs a Server on broker/log (the default log store) in
// dir; stop shuts it down and waits for Run.
func startDiskBroker(t *testing.T, dir string, opts ...brokerOpt) (addr string, s *Server, stop func()) {
	t.Helper()
	cfg := Config{DataDir: dir, Logger: testLogger(t), Configs: map[string]string{}}
	for _, o := range opts {
		o(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, ln) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return ln.Addr().String(), s, stop
}

// TestDiskLogEndToEnd runs the franz-go client against the server on the
// real partition log, restarts it on the same data dir, and checks that
// records, topic metadata and idempotent producer state survived.
func TestDiskLogEndToEnd(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx := testCtx(t)
	addr, _, stop := startDiskBroker(t, dir)
	adm := kadm.NewClient(newClient(t, addr))
	compact := "compact"
	if _, err := adm.CreateTopic(ctx, 2, 1, map[string]*string{"cleanup.policy": &compact, "segment.bytes": kadm.StringPtr("4096")}, "disk"); err != nil {
		t.Fatal(err)
	}
	prod := newClient(t, addr, kgo.DefaultProduceTopic("disk"))
	const n = 200
	for i := range n {
		prod.Produce(ctx, &kgo.Record{Key: []byte(strconv.Itoa(i % 10)), Value: []byte(strconv.Itoa(i))}, nil)
	}
	if err := prod.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := prod.ProduceSync(ctx, &kgo.Record{Value: []byte("keyless")}).FirstErr(); !errors.Is(err, kerr.InvalidRecord) {
		t.Fatalf("keyless on compacted: %v", err)
	}
	prod.Close()
	stop()

	addr2, s2, _ := startDiskBroker(t, dir)
	if tp := s2.lookup("disk"); tp == nil || len(tp.partitions) != 2 || !tp.cfg.Compacted() {
		t.Fatalf("topic after restart: %+v", tp)
	}
	cons := newClient(t, addr2, kgo.ConsumeTopics("disk"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(50*time.Millisecond))
	seen := 0
	for seen < n {
		fs := cons.PollFetches(ctx)
		if err := fs.Err(); err != nil {
			t.Fatal(err)
		}
		seen += fs.NumRecords()
	}
	ends, err := kadm.NewClient(newClient(t, addr2)).ListEndOffsets(ctx, "disk")
	if err != nil {
		t.Fatal(err)
	}
	var sum int64
	ends.Each(func(o kadm.ListedOffset) { sum += o.Offset })
	if sum != n || seen != n {
		t.Fatalf("end offsets sum %d, consumed %d, want %d", sum, seen, n)
	}
}

// TestDiskLogIdempotenceSurvivesRestart replays a batch after a restart:
// the producer state rebuilt from the log's batch headers answers it as a
// duplicate with its original offset.
func TestDiskLogIdempotenceSurvivesRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	addr, _, stop := startDiskBroker(t, dir)
	c := dialRaw(t, addr)
	c.createTopic("idem", 1, nil)
	for seq := int32(0); seq < 3; seq++ {
		if code, base := c.produce("idem", 0, makeBatch(batchOpts{pid: 9, seq: seq})); code != 0 || base != int64(seq) {
			t.Fatalf("seq %d: code %d base %d", seq, code, base)
		}
	}
	stop()
	addr2, _, _ := startDiskBroker(t, dir)
	c2 := dialRaw(t, addr2)
	if code, base := c2.produce("idem", 0, makeBatch(batchOpts{pid: 9, seq: 1})); code != 0 || base != 1 {
		t.Fatalf("duplicate after restart: code %d base %d", code, base)
	}
	if code, _ := c2.produce("idem", 0, makeBatch(batchOpts{pid: 9, seq: 7})); code != kerr.OutOfOrderSequenceNumber.Code {
		t.Fatalf("gap after restart: code %d", code)
	}
	if code, base := c2.produce("idem", 0, makeBatch(batchOpts{pid: 9, seq: 3})); code != 0 || base != 3 {
		t.Fatalf("next after restart: code %d base %d", code, base)
	}
}

func TestLogErrorMapping(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  error
		want *kerr.Error
	}{
		{log.ErrCorruptBatch, kerr.CorruptMessage},
		{&log.CorruptionError{}, kerr.CorruptMessage},
		{log.ErrKeylessCompacted, kerr.InvalidRecord},
		{log.ErrOffsetOutOfRange, kerr.OffsetOutOfRange},
		{log.ErrRecordTooLarge, kerr.MessageTooLarge},
		{log.ErrFailed, kerr.KafkaStorageError},
	}
	for _, tc := range tests {
		got := logErr(tc.err)
		if !errors.Is(got, tc.want) || !errors.Is(got, tc.err) {
			t.Errorf("logErr(%v) = %v, want %v wrapping it", tc.err, got, tc.want)
		}
	}
	if millis(-1) >= 0 || millis(1<<62) <= 0 {
		t.Fatal("millis must keep -1 negative and saturate")
	}
}

// TestDiskLogCleanerRuns: the server drives the log cleaner, so retention
// deletes old segments and compaction drops overwritten keys without any
// client action.
func TestDiskLogCleanerRuns(t *testing.T) {
	t.Parallel()
	addr, s, _ := startDiskBroker(t, t.TempDir(), withBrokerConfig("log.cleaner.backoff.ms", "5"))
	c := dialRaw(t, addr)
	if code := c.createTopic("old", 1, map[string]string{"segment.bytes": "1024", "retention.ms": "60000"}); code != 0 {
		t.Fatalf("create: %d", code)
	}
	if code := c.createTopic("comp", 1, map[string]string{"segment.bytes": "1024", "cleanup.policy": "compact", "min.cleanable.dirty.ratio": "0.01"}); code != 0 {
		t.Fatalf("create: %d", code)
	}
	hourAgo := time.Now().Add(-time.Hour).UnixMilli()
	for range 40 {
		if code, _ := c.produce("old", 0, makeBatch(batchOpts{ts: hourAgo})); code != 0 {
			t.Fatalf("produce: %d", code)
		}
		if code, _ := c.produce("comp", 0, makeBatch(batchOpts{keys: [][]byte{[]byte("same")}})); code != 0 {
			t.Fatalf("produce: %d", code)
		}
	}
	old := s.partitionOf(s.lookup("old"), 0)
	waitFor(t, func() bool { return old.log.StartOffset() > 0 })
	comp := s.partitionOf(s.lookup("comp"), 0)
	count := func() int {
		n := 0
		_ = s.ScanRecords(context.Background(), "comp", 0, func(int64, kafkaproto.Record) error { n++; return nil })
		return n
	}
	waitFor(t, func() bool { return count() < 40 })
	if end := comp.hw.Load(); end != 40 {
		t.Fatalf("compaction moved the end offset: %d", end)
	}
}

// TestDiskLogConcurrentPlainProducers: non-idempotent producers append to
// one partition concurrently (sharing fsyncs); every record is there once
// and the high watermark ends at the log's end.
func TestDiskLogConcurrentPlainProducers(t *testing.T) {
	t.Parallel()
	addr, s, _ := startDiskBroker(t, t.TempDir())
	ctx := testCtx(t)
	if _, err := kadm.NewClient(newClient(t, addr)).CreateTopic(ctx, 1, 1, nil, "plain"); err != nil {
		t.Fatal(err)
	}
	const producers, each = 8, 100
	var wg sync.WaitGroup
	errs := make(chan error, producers*each)
	for range producers {
		wg.Go(func() {
			cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic("plain"), kgo.DisableIdempotentWrite(),
				kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(0))
			if err != nil {
				errs <- err
				return
			}
			defer cl.Close()
			for i := range each {
				if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(strconv.Itoa(i))}).FirstErr(); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	p := s.partitionOf(s.lookup("plain"), 0)
	if hw, end := p.hw.Load(), p.log.EndOffset(); hw != producers*each || end != hw {
		t.Fatalf("high watermark %d, log end %d, want %d", hw, end, producers*each)
	}
}
