package group

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/sluicehq/sluice/broker/kafkaproto"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// batchLog is a TopicLog keeping real v2 batch bytes, as the server's log
// does, so TopicStore is tested through the record encoding (tombstones
// included), and reusing its read buffer as a log would.
type batchLog struct {
	mu       sync.Mutex
	topics   map[string]map[string]string
	batches  [][]byte
	failWith error
}

func (l *batchLog) EnsureInternalTopic(name string, partitions int32, configs map[string]string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.topics == nil {
		l.topics = map[string]map[string]string{}
	}
	if _, ok := l.topics[name]; !ok {
		l.topics[name] = configs
	}
	return nil
}

func (l *batchLog) AppendRecords(_ context.Context, topic string, partition int32, recs []kafkaproto.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.failWith != nil {
		return l.failWith
	}
	if _, ok := l.topics[topic]; !ok || partition != 0 {
		return kerr.UnknownTopicOrPartition
	}
	l.batches = append(l.batches, kafkaproto.AppendBatch(nil, 0, recs))
	return nil
}

func (l *batchLog) ScanRecords(_ context.Context, topic string, _ int32, fn func(int64, kafkaproto.Record) error) error {
	l.mu.Lock()
	batches := append([][]byte(nil), l.batches...)
	l.mu.Unlock()
	var off int64
	buf := make([]byte, 0, 1<<16)
	for _, b := range batches {
		buf = append(buf[:0], b...) // one reused read buffer
		err := kafkaproto.SplitBatches(buf, func(h kafkaproto.BatchHeader, batch []byte) bool {
			err := kafkaproto.ForEachRecord(h, batch[kafkaproto.BatchHeaderSize:], func(_ int32, r kafkaproto.Record) error {
				off++
				return fn(off-1, r)
			})
			return err == nil
		})
		if err != nil {
			return err
		}
		for i := range buf {
			buf[i] = 0xee // scribble: nothing may keep aliases
		}
	}
	return nil
}

func TestTopicStore(t *testing.T) {
	t.Parallel()
	run(t, func(t *testing.T) {
		log := &batchLog{}
		store := NewTopicStore(log)
		h := startWithStore(t, store)
		ids, gen := h.stableGroup("g", 2)
		h.do(commitReq(8, "g", ids[0], gen, "t", map[int32]int64{0: 5, 1: 6}))
		h.do(commitReq(8, "e", "", -1, "t", map[int32]int64{0: 1}))
		r := kmsg.NewPtrDeleteGroupsRequest()
		r.Groups = []string{"e"}
		h.do(r)
		before, _ := h.c.Describe("g")
		h.stop()
		if log.topics[OffsetsTopic]["cleanup.policy"] != "compact" {
			t.Fatalf("topic configs %v", log.topics)
		}

		h2 := startWithStore(t, NewTopicStore(log))
		after, err := h2.c.Describe("g")
		if err != nil || after.Generation != before.Generation || len(after.Members) != 2 ||
			string(after.Members[1].Assignment) != string(before.Members[1].Assignment) ||
			string(after.Members[0].Metadata) != string(before.Members[0].Metadata) {
			t.Fatalf("after restart %+v, before %+v (%v)", after, before, err)
		}
		offs, _ := h2.c.CommittedOffsets("g")
		if offs["t"][0].Offset != 5 || offs["t"][1].Offset != 6 || offs["t"][1].Metadata != "meta-1" {
			t.Fatalf("offsets %+v", offs)
		}
		if _, err := h2.c.Describe("e"); !errors.Is(err, ErrUnknownGroup) {
			t.Fatalf("deleted group back: %v", err)
		}
		log.mu.Lock()
		log.failWith = fmt.Errorf("leader moved: %w", kerr.NotLeaderForPartition)
		log.mu.Unlock()
		if codes := commitCodes(h2.do(commitReq(8, "g", ids[0], gen, "t", map[int32]int64{0: 9}))); !allCodes(codes, kerr.NotCoordinator.Code) {
			t.Fatalf("codes %v", codes)
		}
	})
}
