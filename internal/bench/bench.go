package bench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/kafkaclient"
)

// Config is one benchmark run.
type Config struct {
	Kafka      kafkaclient.Config
	Topic      string // created fresh; an existing topic is an error
	Partitions int32
	Records    int // records to produce
	ValueBytes int
	KeyCount   int // distinct keys (records are keyed, as CDC records are)
	// MaxInFlight bounds records produced but not yet acknowledged, which
	// is what keeps latency figures meaningful rather than queueing time.
	MaxInFlight int
	Linger      time.Duration
	Acks        string // "all", "1", "0"
	// ReplicationFactor of the topic; 0 or -1 leaves it to the broker.
	ReplicationFactor int16
	// TopicConfigs are set on the topic at creation (e.g. min.insync.replicas).
	TopicConfigs map[string]string
}

// Result holds the figures of one run.
type Result struct {
	Records       int
	Bytes         int64
	ProduceTime   time.Duration
	ProduceMsgs   float64 // records/s
	ProduceMBs    float64 // MiB/s of values
	LatencyP50    time.Duration
	LatencyP99    time.Duration
	LatencyMax    time.Duration
	ConsumeTime   time.Duration
	ConsumeMBs    float64
	ConsumeMsgs   float64
	ConsumedCount int
}

// Run creates the topic, produces, then consumes everything back.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if cfg.Records <= 0 || cfg.ValueBytes <= 0 || cfg.Partitions <= 0 {
		return Result{}, errors.New("bench: records, value size and partitions must be positive")
	}
	if cfg.KeyCount <= 0 {
		cfg.KeyCount = 10_000
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = 10_000
	}
	admCl, err := cfg.Kafka.NewClient()
	if err != nil {
		return Result{}, err
	}
	defer admCl.Close()
	adm := kadm.NewClient(admCl)
	rf := cfg.ReplicationFactor
	if rf == 0 {
		rf = -1
	}
	var configs map[string]*string
	for k, v := range cfg.TopicConfigs {
		if configs == nil {
			configs = make(map[string]*string, len(cfg.TopicConfigs))
		}
		configs[k] = &v
	}
	resp, err := adm.CreateTopic(ctx, cfg.Partitions, rf, configs, cfg.Topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		return Result{}, fmt.Errorf("bench: creating topic %s: %w", cfg.Topic, err)
	}

	res, err := produce(ctx, cfg)
	if err != nil {
		return res, err
	}
	if err := consume(ctx, cfg, &res); err != nil {
		return res, err
	}
	return res, nil
}

func acks(s string) (kgo.Acks, bool, error) {
	switch s {
	case "", "all", "-1":
		return kgo.AllISRAcks(), true, nil
	case "1":
		return kgo.LeaderAck(), false, nil
	case "0":
		return kgo.NoAck(), false, nil
	}
	return kgo.Acks{}, false, fmt.Errorf("bench: acks %q: want all, 1 or 0", s)
}

func produce(ctx context.Context, cfg Config) (Result, error) {
	a, idempotent, err := acks(cfg.Acks)
	if err != nil {
		return Result{}, err
	}
	opts := []kgo.Opt{
		kgo.DefaultProduceTopic(cfg.Topic), kgo.RequiredAcks(a),
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)),
		kgo.MaxBufferedRecords(cfg.MaxInFlight + 1), kgo.ProducerLinger(cfg.Linger),
	}
	if !idempotent {
		opts = append(opts, kgo.DisableIdempotentWrite())
	}
	cl, err := cfg.Kafka.NewClient(opts...)
	if err != nil {
		return Result{}, err
	}
	defer cl.Close()

	value := make([]byte, cfg.ValueBytes)
	for i := range value {
		value[i] = byte('a' + rand.IntN(26))
	}
	keys := make([][]byte, cfg.KeyCount)
	for i := range keys {
		keys[i] = fmt.Appendf(nil, `{"id":%d}`, i)
	}
	lat := make([]time.Duration, cfg.Records)
	var (
		wg       sync.WaitGroup
		failures atomic.Int64
		firstErr atomic.Value
	)
	// The semaphore keeps Produce from ever blocking on a full buffer, so a
	// latency is the time from hand-off to acknowledgement, not queueing.
	sem := make(chan struct{}, cfg.MaxInFlight)
	start := time.Now()
	for i := range cfg.Records {
		wg.Add(1)
		sem <- struct{}{}
		sent := time.Now()
		cl.Produce(ctx, &kgo.Record{Key: keys[i%len(keys)], Value: value}, func(_ *kgo.Record, err error) {
			lat[i] = time.Since(sent)
			<-sem
			if err != nil {
				failures.Add(1)
				firstErr.CompareAndSwap(nil, err)
			}
			wg.Done()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if n := failures.Load(); n > 0 {
		return Result{}, fmt.Errorf("bench: %d of %d produces failed, first: %v", n, cfg.Records, firstErr.Load())
	}
	slices.Sort(lat)
	bytes := int64(cfg.Records) * int64(cfg.ValueBytes)
	return Result{
		Records:     cfg.Records,
		Bytes:       bytes,
		ProduceTime: elapsed,
		ProduceMsgs: float64(cfg.Records) / elapsed.Seconds(),
		ProduceMBs:  float64(bytes) / (1 << 20) / elapsed.Seconds(),
		LatencyP50:  lat[len(lat)/2],
		LatencyP99:  lat[len(lat)*99/100],
		LatencyMax:  lat[len(lat)-1],
	}, nil
}

func consume(ctx context.Context, cfg Config, res *Result) error {
	cl, err := cfg.Kafka.NewClient(kgo.ConsumeTopics(cfg.Topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxBytes(64<<20), kgo.FetchMaxPartitionBytes(16<<20))
	if err != nil {
		return err
	}
	defer cl.Close()
	start := time.Now()
	var n int
	var bytes int64
	for n < cfg.Records {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("bench: consumed %d of %d: %w", n, cfg.Records, err)
		}
		var ferr error
		fs.EachError(func(_ string, _ int32, err error) { ferr = err })
		if ferr != nil {
			return fmt.Errorf("bench: consuming: %w", ferr)
		}
		fs.EachRecord(func(r *kgo.Record) {
			n++
			bytes += int64(len(r.Value))
		})
	}
	el := time.Since(start)
	res.ConsumedCount = n
	res.ConsumeTime = el
	res.ConsumeMsgs = float64(n) / el.Seconds()
	res.ConsumeMBs = float64(bytes) / (1 << 20) / el.Seconds()
	return nil
}
