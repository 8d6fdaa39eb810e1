package server

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/sluicehq/sluice/broker/kafkaproto"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// memStore is an in-memory partition log store: the test seam for
// partitionLog. Logs survive Close, keyed by directory, so a test can
// "restart" a Server on the same store and data dir.
type memStore struct {
	mu   sync.Mutex
	logs map[string]*memLog
}

func newMemStore() *memStore { return &memStore{logs: map[string]*memLog{}} }

func (m *memStore) open(dir string, cfg TopicConfig) (partitionLog, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	l := m.logs[dir]
	if l == nil {
		l = &memLog{store: m, dir: dir}
		m.logs[dir] = l
	}
	l.mu.Lock()
	l.cfg, l.closed = cfg, false
	l.mu.Unlock()
	return l, nil
}

func (m *memStore) get(dir string) *memLog {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.logs[dir]
}

type memBatch struct {
	base, last int64
	maxTS      int64
	b          []byte
}

// memLog keeps batches in a slice. It checks what broker/log checks: one
// v2 batch with a good CRC, and keys on compacted topics (uncompressed
// batches only).
type memLog struct {
	store *memStore
	dir   string

	mu           sync.Mutex
	cfg          TopicConfig
	batches      []memBatch
	start        int64
	end          int64
	closed       bool
	appends      int
	failNext     error // returned (once) by the next Append
	refuseConfig error // returned by SetConfig while set
}

var errMemClosed = errors.New("memlog: closed")

func (l *memLog) Append(_ context.Context, batch []byte) (appendResult, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return appendResult{}, errMemClosed
	}
	if err := l.failNext; err != nil {
		l.failNext = nil
		return appendResult{}, err
	}
	h, err := kafkaproto.ValidateBatch(batch)
	if err != nil {
		return appendResult{}, fmt.Errorf("%w: %w", kerr.CorruptMessage, err)
	}
	if l.cfg.Compacted() && h.Attributes&kafkaproto.AttrCompressionMask == 0 {
		var rb kmsg.RecordBatch
		if err := rb.ReadFrom(batch); err != nil {
			return appendResult{}, fmt.Errorf("%w: %w", kerr.CorruptMessage, err)
		}
		recs := rb.Records
		for range rb.NumRecords {
			length, n := binary.Varint(recs)
			if n <= 0 || int(length)+n > len(recs) {
				return appendResult{}, kerr.CorruptMessage
			}
			var r kmsg.Record
			if err := r.ReadFrom(recs[:n+int(length)]); err != nil {
				return appendResult{}, fmt.Errorf("%w: %w", kerr.CorruptMessage, err)
			}
			if r.Key == nil {
				return appendResult{}, fmt.Errorf("%w: keyless record on a compacted topic", kerr.InvalidRecord)
			}
			recs = recs[n+int(length):]
		}
	}
	b := append([]byte(nil), batch...)
	binary.BigEndian.PutUint64(b, uint64(l.end))
	mb := memBatch{base: l.end, last: l.end + int64(h.LastOffsetDelta), maxTS: h.MaxTimestamp, b: b}
	l.batches = append(l.batches, mb)
	l.end = mb.last + 1
	l.appends++
	appendTime := int64(-1)
	if l.cfg.TimestampType == "LogAppendTime" {
		appendTime = time.Now().UnixMilli() // the fake does not restamp the batch
	}
	return appendResult{BaseOffset: mb.base, LastOffset: mb.last, LogAppendTime: appendTime}, nil
}

func (l *memLog) Read(offset int64, maxBytes int) ([]byte, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, errMemClosed
	}
	if offset < l.start || offset > l.end {
		return nil, kerr.OffsetOutOfRange
	}
	var out []byte
	for _, b := range l.batches {
		if b.last < offset {
			continue
		}
		if len(out) > 0 && len(out)+len(b.b) > maxBytes {
			break
		}
		out = append(out, b.b...)
	}
	return out, nil
}

func (l *memLog) StartOffset() int64 { l.mu.Lock(); defer l.mu.Unlock(); return l.start }
func (l *memLog) EndOffset() int64   { l.mu.Lock(); defer l.mu.Unlock(); return l.end }

func (l *memLog) OffsetForTimestamp(ts int64) (int64, int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, b := range l.batches {
		if b.maxTS >= ts {
			return max(b.base, l.start), b.maxTS, nil
		}
	}
	return -1, -1, nil
}

func (l *memLog) MaxTimestamp() (int64, int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ts, off := int64(-1), int64(-1)
	for _, b := range l.batches {
		if b.maxTS > ts {
			ts, off = b.maxTS, b.last
		}
	}
	return ts, off
}

func (l *memLog) DeleteRecordsBefore(offset int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if offset > l.end {
		return kerr.OffsetOutOfRange
	}
	if offset > l.start {
		l.start = offset
	}
	for len(l.batches) > 0 && l.batches[0].last < l.start {
		l.batches = l.batches[1:]
	}
	return nil
}

func (l *memLog) SetConfig(cfg TopicConfig) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.refuseConfig != nil {
		return l.refuseConfig
	}
	l.cfg = cfg
	return nil
}

func (l *memLog) config() TopicConfig { l.mu.Lock(); defer l.mu.Unlock(); return l.cfg }

func (l *memLog) Size() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	var n int64
	for _, b := range l.batches {
		n += int64(len(b.b))
	}
	return n
}

func (l *memLog) Close() error { l.mu.Lock(); l.closed = true; l.mu.Unlock(); return nil }

func (l *memLog) Delete() error {
	l.store.mu.Lock()
	delete(l.store.logs, l.dir)
	l.store.mu.Unlock()
	return l.Close()
}

// Replication: the fake keeps the leader's bytes and derives epochs from
// the batches' partitionLeaderEpoch field.

func (l *memLog) AppendReplica(_ context.Context, batches []byte) (appendResult, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	res := appendResult{BaseOffset: -1, LastOffset: -1, LogAppendTime: -1}
	for len(batches) > 0 {
		h, err := kafkaproto.ValidateBatch(batches[:min(len(batches), batchSize(batches))])
		if err != nil {
			return res, fmt.Errorf("%w: %w", kerr.CorruptMessage, err)
		}
		if h.BaseOffset < l.end {
			return res, fmt.Errorf("memlog: replica batch at %d below the log end %d", h.BaseOffset, l.end)
		}
		b := append([]byte(nil), batches[:h.Size()]...)
		last := h.BaseOffset + int64(h.LastOffsetDelta)
		l.batches = append(l.batches, memBatch{base: h.BaseOffset, last: last, maxTS: h.MaxTimestamp, b: b})
		l.end = last + 1
		if res.BaseOffset < 0 {
			res.BaseOffset = h.BaseOffset
		}
		res.LastOffset = last
		batches = batches[h.Size():]
	}
	return res, nil
}

func batchSize(b []byte) int {
	h, err := kafkaproto.ParseBatchHeader(b)
	if err != nil {
		return len(b)
	}
	return h.Size()
}

func (l *memLog) TruncateTo(offset int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for len(l.batches) > 0 && l.batches[len(l.batches)-1].last >= offset {
		l.end = l.batches[len(l.batches)-1].base
		l.batches = l.batches[:len(l.batches)-1]
	}
	return nil
}

func (l *memLog) TruncateFullyAndStartAt(offset int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.batches, l.start, l.end = nil, offset, offset
	return nil
}

func (l *memLog) SetLeaderEpoch(int32) {}

func (l *memLog) epochs() (epochs []int32, starts []int64) {
	for _, b := range l.batches {
		e := int32(binary.BigEndian.Uint32(b.b[kafkaproto.BatchPartitionLeaderEpochAt:]))
		if len(epochs) == 0 || e > epochs[len(epochs)-1] {
			epochs, starts = append(epochs, e), append(starts, b.base)
		}
	}
	return epochs, starts
}

func (l *memLog) LatestEpoch() int32 {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, _ := l.epochs()
	if len(e) == 0 {
		return -1
	}
	return e[len(e)-1]
}

func (l *memLog) EndOffsetForEpoch(epoch int32) (int32, int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, st := l.epochs()
	for i := len(e) - 1; i >= 0; i-- {
		if e[i] <= epoch {
			if i+1 < len(e) {
				return e[i], st[i+1]
			}
			return e[i], l.end
		}
	}
	return -1, -1
}
