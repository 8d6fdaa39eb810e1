package server

import (
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/broker/kafkaproto"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// testBroker is a Server on 127.0.0.1:0 backed by a memStore.
type testBroker struct {
	t     *testing.T
	s     *Server
	addr  string
	store *memStore
	dir   string
	stop  func() error
}

type brokerOpt func(*Config)

func withBrokerConfig(k, v string) brokerOpt {
	return func(c *Config) { c.Configs[k] = v }
}

func testLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// startBroker starts a broker; it is stopped at test cleanup.
func startBroker(t *testing.T, opts ...brokerOpt) *testBroker {
	t.Helper()
	return startBrokerOn(t, newMemStore(), t.TempDir(), opts...)
}

func startBrokerOn(t *testing.T, store *memStore, dir string, opts ...brokerOpt) *testBroker {
	t.Helper()
	cfg := Config{DataDir: dir, Configs: map[string]string{}, Logger: testLogger(t)}
	for _, o := range opts {
		o(&cfg)
	}
	s, err := New(cfg, withLogOpener(store.open))
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
	var runErr error
	stop := func() error {
		once.Do(func() { cancel(); runErr = <-done })
		return runErr
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return &testBroker{t: t, s: s, addr: ln.Addr().String(), store: store, dir: dir, stop: stop}
}

// rawConn speaks the protocol by hand, for tests that need control over
// framing and pipelining.
type rawConn struct {
	t  *testing.T
	nc net.Conn
	fr *kafkaproto.FrameReader
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	// A safety net so a broken test fails instead of hanging; never part
	// of a pass/fail decision.
	_ = nc.SetDeadline(time.Now().Add(30 * time.Second))
	return &rawConn{t: t, nc: nc, fr: kafkaproto.NewFrameReader(nc, 1<<30)}
}

func (c *rawConn) writeRaw(b []byte) {
	c.t.Helper()
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatal(err)
	}
}

// send writes req with the given version and correlation id.
func (c *rawConn) send(req kmsg.Request, version int16, corr int32) {
	c.t.Helper()
	req.SetVersion(version)
	c.writeRaw(kmsg.NewRequestFormatter(kmsg.FormatterClientID("raw")).AppendRequest(nil, req, corr))
}

// recv reads one response frame and decodes it as kind at version.
func (c *rawConn) recv(kind kmsg.Response, version int16) (int32, kmsg.Response) {
	c.t.Helper()
	frame, err := c.fr.Next()
	if err != nil {
		c.t.Fatalf("reading response: %v", err)
	}
	corr := int32(binary.BigEndian.Uint32(frame))
	body := frame[4:]
	kind.SetVersion(version)
	if kind.IsFlexible() && kind.Key() != int16(kmsg.ApiVersions) {
		body = body[1:] // empty response header tags
	}
	if err := kind.ReadFrom(body); err != nil {
		c.t.Fatalf("decoding %T v%d: %v", kind, version, err)
	}
	return corr, kind
}

// recvCorr reads one response frame and returns only its correlation id.
func (c *rawConn) recvCorr() int32 {
	c.t.Helper()
	frame, err := c.fr.Next()
	if err != nil {
		c.t.Fatalf("reading response: %v", err)
	}
	return int32(binary.BigEndian.Uint32(frame))
}

// expectClosed asserts the broker closed the connection.
func (c *rawConn) expectClosed() {
	c.t.Helper()
	_, err := c.fr.Next()
	if err == nil {
		c.t.Fatal("connection still open: got a response")
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		c.t.Fatalf("connection still open: %v", err)
	}
	if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, net.ErrClosed) && !isReset(err) {
		c.t.Fatalf("unexpected error: %v", err)
	}
}

func isReset(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe)
}

// roundTrip sends one request and decodes its response.
func (c *rawConn) roundTrip(req kmsg.Request, version int16) kmsg.Response {
	c.t.Helper()
	c.send(req, version, 1)
	corr, resp := c.recv(req.ResponseKind(), version)
	if corr != 1 {
		c.t.Fatalf("correlation id %d", corr)
	}
	return resp
}

var castagnoliTable = crc32.MakeTable(crc32.Castagnoli)

// batchOpts shapes a test record batch.
type batchOpts struct {
	pid    int64
	epoch  int16
	seq    int32
	keys   [][]byte // one record per key; nil key = keyless record
	ts     int64
	attrs  int16
	badCRC bool
}

// makeBatch builds a v2 record batch, uncompressed.
func makeBatch(o batchOpts) []byte {
	if o.keys == nil {
		o.keys = [][]byte{[]byte("k")}
	}
	if o.pid == 0 {
		o.pid = -1
		o.epoch = -1
		o.seq = -1
	}
	if o.ts == 0 {
		o.ts = 1_700_000_000_000
	}
	rb := kmsg.RecordBatch{
		Magic: 2, Attributes: o.attrs, LastOffsetDelta: int32(len(o.keys) - 1),
		FirstTimestamp: o.ts, MaxTimestamp: o.ts, ProducerID: o.pid, ProducerEpoch: o.epoch,
		FirstSequence: o.seq, NumRecords: int32(len(o.keys)), PartitionLeaderEpoch: -1,
	}
	var recs []byte
	for i, k := range o.keys {
		r := kmsg.Record{OffsetDelta: int32(i), Key: k, Value: []byte("value")}
		body := r.AppendTo(nil)[1:] // without the zero length varint
		recs = binary.AppendVarint(recs, int64(len(body)))
		recs = append(recs, body...)
	}
	rb.Records = recs
	b := rb.AppendTo(nil)
	binary.BigEndian.PutUint32(b[8:], uint32(len(b)-12))
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], castagnoliTable))
	if o.badCRC {
		b[len(b)-1] ^= 0xff
	}
	return b
}

// produceReq builds a one-partition produce request.
func produceReq(topic string, partition int32, acks int16, records []byte) *kmsg.ProduceRequest {
	req := kmsg.NewPtrProduceRequest()
	req.Acks = acks
	req.TimeoutMillis = 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition = partition
	rp.Records = records
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

// createTopicRaw creates a topic through the protocol.
func (c *rawConn) createTopic(name string, partitions int32, configs map[string]string) int16 {
	c.t.Helper()
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, partitions, -1
	for k, v := range configs {
		cfg := kmsg.NewCreateTopicsRequestTopicConfig()
		cfg.Name, cfg.Value = k, kmsg.StringPtr(v)
		rt.Configs = append(rt.Configs, cfg)
	}
	req.Topics = append(req.Topics, rt)
	resp := c.roundTrip(req, 7).(*kmsg.CreateTopicsResponse)
	return resp.Topics[0].ErrorCode
}

// produce sends one batch and returns (error code, base offset).
func (c *rawConn) produce(topic string, partition int32, batch []byte) (int16, int64) {
	c.t.Helper()
	resp := c.roundTrip(produceReq(topic, partition, -1, batch), 9).(*kmsg.ProduceResponse)
	p := resp.Topics[0].Partitions[0]
	return p.ErrorCode, p.BaseOffset
}
