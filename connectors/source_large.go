package connectors

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Records above the source client's batch limit.
//
// franz-go refuses, on the client side, a record larger than its
// ProducerBatchMaxBytes (1,000,012 by default, learned at start), whatever
// the topic's max.message.bytes says: raising the topic's limit would never
// let such a record through. Raising the client's limit for every record
// would let batches of small records grow past a topic's limit instead. So
// the main client keeps the default and a record larger than it takes a
// separate path, one at a time, in order:
//
//  1. The topic's max.message.bytes is described (once per run, so a run
//     after `topic alter` sees the new value).
//  2. Larger than that: per OnTooLarge, the run fails with a *TooLargeError
//     naming topic, key and size (the supervisor retries with backoff; the
//     stored position stays before the record, so nothing is skipped), or
//     the key and the error go to the dead-letter topic.
//  3. Otherwise the main client is flushed (everything before is on the
//     broker), the record is produced by a client whose batch limit is
//     bigLimit, and that one is flushed before the next record: per-key order
//     holds across the two producers.

const (
	// mainBatchLimit is franz-go's default ProducerBatchMaxBytes, which the
	// main client keeps.
	mainBatchLimit = 1_000_012
	// bigLimit bounds the one-record batches of the large-record client
	// (below franz-go's BrokerMaxWriteBytes default of 100 MiB).
	bigLimit = 64 << 20
	// defaultMaxMessageBytes is Kafka's max.message.bytes default, assumed
	// when the broker does not report the topic's value.
	defaultMaxMessageBytes = 1_048_588
	// batchOverhead: a v2 record batch header (61 bytes) plus the record's
	// own varints, rounded up.
	batchOverhead = 61 + 32
)

// recordSize is an upper bound of the record's size in a one-record v2
// batch (uncompressed), as max.message.bytes counts it.
func recordSize(r *kgo.Record) int {
	n := batchOverhead + len(r.Key) + len(r.Value)
	for _, h := range r.Headers {
		n += len(h.Key) + len(h.Value) + 10
	}
	return n
}

// largeProducer is one source run's path for records above mainBatchLimit.
// Only the read loop uses it.
type largeProducer struct {
	s      *sourceRun
	adm    *kadm.Client
	limits map[string]int // topic → max.message.bytes, this run
	cl     *kgo.Client    // nil until the first large record
}

func (lp *largeProducer) close() {
	if lp.cl != nil {
		lp.cl.Close()
	}
}

// limit returns the topic's max.message.bytes.
func (lp *largeProducer) limit(ctx context.Context, topic string) (int, error) {
	if v, ok := lp.limits[topic]; ok {
		return v, nil
	}
	rcs, err := lp.adm.DescribeTopicConfigs(ctx, topic)
	if err != nil {
		return 0, fmt.Errorf("describing topic %s: %w", topic, err)
	}
	v := defaultMaxMessageBytes
	for _, rc := range rcs {
		if rc.Err != nil {
			return 0, fmt.Errorf("describing topic %s: %w", topic, rc.Err)
		}
		for _, c := range rc.Configs {
			if c.Key == "max.message.bytes" && c.Value != nil {
				if n, err := strconv.Atoi(*c.Value); err == nil && n > 0 {
					v = n
				}
			}
		}
	}
	if lp.limits == nil {
		lp.limits = map[string]int{}
	}
	lp.limits[topic] = v
	return v, nil
}

// produce handles kr (size bytes, batch seq of tr) on the large path; see
// the file comment. It returns a *TooLargeError with TooLargeStop, or an
// error of the broker or the flushes.
func (lp *largeProducer) produce(ctx, hard context.Context, main *kgo.Client, kr *kgo.Record, size int, seq uint64, tr *ackTracker) error {
	s := lp.s
	lim, err := lp.limit(ctx, kr.Topic)
	if err != nil {
		return err
	}
	if size > lim {
		tle := &TooLargeError{Topic: kr.Topic, Key: kr.Key, Size: size, Limit: lim}
		if s.spec.OnTooLarge != TooLargeDLQ {
			return tle
		}
		return lp.deadLetter(ctx, hard, main, kr, tle, seq, tr)
	}
	if lp.cl == nil {
		lp.cl, err = s.rt.newClient(s.log,
			kgo.RequiredAcks(kgo.AllISRAcks()),
			kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)),
			kgo.ProducerLinger(0),
			kgo.ProducerBatchMaxBytes(bigLimit),
		)
		if err != nil {
			return err
		}
	}
	// Everything read before kr is on the broker (or failed) first.
	if err := main.Flush(hard); err != nil {
		return fmt.Errorf("flushing before a large record: %w", err)
	}
	if err := tr.err(); err != nil {
		return err
	}
	s.log.Info("producing a large record on its own", "topic", kr.Topic, "key", string(kr.Key), "bytes", size, "max_message_bytes", lim)
	lp.cl.Produce(hard, kr, s.produceDone(seq, tr, size))
	if err := lp.cl.Flush(hard); err != nil {
		return fmt.Errorf("flushing a large record: %w", err)
	}
	return tr.err()
}

// deadLetter sends kr's key (no value: it would not fit either) with the
// error to the dead-letter topic, counting as kr for the ack tracker.
func (lp *largeProducer) deadLetter(ctx, hard context.Context, main *kgo.Client, kr *kgo.Record, tle *TooLargeError, seq uint64, tr *ackTracker) error {
	s := lp.s
	topic := s.spec.DLQTopic
	if topic == "" {
		topic = kr.Topic + ".dlq"
	}
	spec := TopicSpec{Name: topic, Partitions: s.spec.Partitions, ReplicationFactor: s.spec.ReplicationFactor,
		Configs: map[string]string{"cleanup.policy": "delete"}}
	if err := s.rt.ensureTopic(ctx, lp.adm, spec); err != nil {
		return err
	}
	s.log.Error("record too large for the broker; its key goes to the dead-letter topic", "topic", kr.Topic, "key", string(kr.Key), "bytes", tle.Size, "max_message_bytes", tle.Limit, "dlq", topic)
	s.sup.noteError(tle)
	s.tooLarge.Inc()
	dl := &kgo.Record{Topic: topic, Key: kr.Key, Headers: []kgo.RecordHeader{
		{Key: HeaderDLQError, Value: []byte(tle.Error())},
		{Key: HeaderDLQTopic, Value: []byte(kr.Topic)},
		{Key: HeaderDLQSize, Value: []byte(strconv.Itoa(tle.Size))},
		{Key: HeaderDLQSource, Value: []byte(s.spec.Name + "/" + s.spec.SourceName)},
	}}
	for _, h := range kr.Headers {
		if len(h.Key)+len(h.Value) < 4096 {
			dl.Headers = append(dl.Headers, h)
		}
	}
	main.Produce(hard, dl, s.produceDone(seq, tr, 0))
	return nil
}

// produceDone is the promise of the produced records of batch seq (one
// closure may serve the whole batch; size 0: computed per record): done in
// the tracker, or the tracker fails with the error (a *TooLargeError
// naming topic, key and size when the broker refused the size).
func (s *sourceRun) produceDone(seq uint64, tr *ackTracker, size int) func(*kgo.Record, error) {
	return func(kr *kgo.Record, err error) {
		if err != nil {
			if errors.Is(err, kerr.MessageTooLarge) {
				n := size // the closure may serve a whole batch: never write size
				if n == 0 {
					n = recordSize(kr)
				}
				err = fmt.Errorf("%w: %w", &TooLargeError{Topic: kr.Topic, Key: kr.Key, Size: n}, err)
			}
			tr.fail(fmt.Errorf("%w: topic %s: %w", ErrProduce, kr.Topic, err))
			return
		}
		s.produced.Inc()
		s.nProduced.Add(1)
		tr.done(seq)
	}
}
