package server

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/sluicehq/sluice/broker/kafkaproto"
	"github.com/twmb/franz-go/pkg/kerr"
)

// producerIDBlock is how many producer ids one persisted allocation covers.
const producerIDBlock = 1000

// maxCachedBatches is how many recent batches per producer are remembered
// for duplicate detection: Kafka's limit, matching the client's
// max.in.flight.requests.per.connection <= 5 for idempotence.
const maxCachedBatches = 5

// producerIDs allocates producer ids from blocks recorded in meta.json
// before use, so an id is never handed out twice, even across crashes.
// Guarded by Server.mu.
type producerIDs struct {
	next, end int64
}

// allocateProducerID returns a fresh producer id.
func (s *Server) allocateProducerID() (int64, error) {
	if s.clustered() {
		return s.allocateProducerIDCluster()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.producers.next >= s.producers.end {
		meta := s.meta
		meta.ProducerIDBlockEnd = s.producers.end + producerIDBlock
		if err := writeJSON(filepath.Join(s.cfg.DataDir, metaFileName), meta); err != nil {
			return 0, fmt.Errorf("allocating producer ids: %w", err)
		}
		s.meta = meta
		s.producers.next, s.producers.end = s.producers.end, meta.ProducerIDBlockEnd
	}
	id := s.producers.next
	s.producers.next++
	return id, nil
}

// batchMeta remembers one appended batch of a producer.
type batchMeta struct {
	firstSeq, lastSeq      int32
	baseOffset, lastOffset int64
	maxTimestamp           int64
}

// producerLock serializes one producer's appends on one partition; the
// entry lives while some append holds or waits for it.
type producerLock struct {
	mu   sync.Mutex
	refs int // guarded by partition.appendMu
}

// lockProducer takes the producer's append lock on this partition and
// returns its release. The lock is outside appendMu (held across the
// Append); appendMu only guards the lock table.
func (p *partition) lockProducer(id int64) (unlock func()) {
	p.appendMu.Lock()
	l := p.producerLocks[id]
	if l == nil {
		l = &producerLock{}
		p.producerLocks[id] = l
	}
	l.refs++
	p.appendMu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		p.appendMu.Lock()
		if l.refs--; l.refs == 0 {
			delete(p.producerLocks, id)
		}
		p.appendMu.Unlock()
	}
}

// producerState is one idempotent producer's state on one partition,
// guarded by partition.appendMu.
type producerState struct {
	epoch    int16
	batches  []batchMeta // oldest first, at most maxCachedBatches
	lastSeen int64       // unix ms of the last append (rebuilt from the log: the open time)
}

// sweepEvery is how many idempotent appends pass between sweeps for
// expired producers.
const sweepEvery = 1000

// expireLocked forgets producers idle for longer than
// producer.id.expiration.ms, as Kafka does, so the state of a partition
// does not grow with every producer that ever wrote to it. A forgotten
// producer that comes back is treated as unknown (any sequence accepted).
func (p *partition) expireLocked(now int64) {
	if p.expireMS <= 0 {
		return
	}
	for id, st := range p.producers {
		if st.lastSeen < now-p.expireMS {
			delete(p.producers, id)
		}
	}
}

func (st *producerState) last() *batchMeta {
	if len(st.batches) == 0 {
		return nil
	}
	return &st.batches[len(st.batches)-1]
}

// checkSequenceLocked checks an idempotent batch against the producer's
// state, following Kafka's ProducerStateManager:
//   - unknown producer: any sequence is accepted (its state may have been
//     removed with the log it was rebuilt from);
//   - older epoch: INVALID_PRODUCER_EPOCH;
//   - newer epoch: the sequence must restart at 0;
//   - same epoch: one of the cached batches again is a duplicate (returned,
//     so the caller answers with its offsets); otherwise the batch must
//     continue right after the last one, else OUT_OF_ORDER_SEQUENCE_NUMBER.
func (p *partition) checkSequenceLocked(h kafkaproto.BatchHeader) (*batchMeta, error) {
	st := p.producers[h.ProducerID]
	if st == nil {
		return nil, nil
	}
	switch {
	case h.ProducerEpoch < st.epoch:
		return nil, fmt.Errorf("%w: producer %d epoch %d, current %d", kerr.InvalidProducerEpoch, h.ProducerID, h.ProducerEpoch, st.epoch)
	case h.ProducerEpoch > st.epoch:
		if h.BaseSequence != 0 {
			return nil, fmt.Errorf("%w: producer %d new epoch %d starts at sequence %d", kerr.OutOfOrderSequenceNumber, h.ProducerID, h.ProducerEpoch, h.BaseSequence)
		}
		return nil, nil
	}
	for i := range st.batches {
		b := &st.batches[i]
		if b.firstSeq == h.BaseSequence && b.lastSeq == h.LastSequence() {
			return b, nil
		}
	}
	last := st.last()
	if last == nil {
		return nil, nil
	}
	if want := int32((int64(last.lastSeq) + 1) % (1 << 31)); h.BaseSequence != want {
		return nil, fmt.Errorf("%w: producer %d epoch %d sent sequence %d, expected %d", kerr.OutOfOrderSequenceNumber, h.ProducerID, h.ProducerEpoch, h.BaseSequence, want)
	}
	return nil, nil
}

// recordLocked remembers an appended idempotent batch, appended at now
// (unix ms).
func (p *partition) recordLocked(h kafkaproto.BatchHeader, baseOffset, lastOffset, now int64) {
	st := p.producers[h.ProducerID]
	if st == nil || h.ProducerEpoch != st.epoch {
		st = &producerState{epoch: h.ProducerEpoch}
		p.producers[h.ProducerID] = st
	}
	st.lastSeen = max(st.lastSeen, now)
	if p.sinceSweep++; p.sinceSweep >= sweepEvery {
		p.sinceSweep = 0
		p.expireLocked(now)
	}
	if len(st.batches) == maxCachedBatches {
		copy(st.batches, st.batches[1:])
		st.batches = st.batches[:maxCachedBatches-1]
	}
	st.batches = append(st.batches, batchMeta{
		firstSeq: h.BaseSequence, lastSeq: h.LastSequence(),
		baseOffset: baseOffset, lastOffset: lastOffset, maxTimestamp: h.MaxTimestamp,
	})
}

// rebuildReadBytes is the read size used to scan the log on open.
const rebuildReadBytes = 1 << 20

// rebuildProducers restores producer state, so sequence checks survive a
// restart. The state is a pure function of the idempotent batches in the
// log, in offset order: it is rebuilt by scanning their headers, starting
// from the snapshot written at the last clean close when that snapshot
// still fits the log (else from the log start).
func (p *partition) rebuildProducers(logger *slog.Logger) error {
	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	off, end := p.log.StartOffset(), p.hw.Load()
	// A batch records no append time; a producer found in the log counts
	// as seen now, so a restart never makes live producers expire early
	// (their create timestamps may be arbitrarily old).
	openedAt := time.Now().UnixMilli()
	if snapOff, ok := p.loadSnapshotLocked(end, logger); ok {
		off = max(off, snapOff)
	}
	readBytes := rebuildReadBytes
	for off < end {
		b, err := p.log.Read(off, readBytes)
		if err != nil {
			return fmt.Errorf("reading offset %d: %w", off, err)
		}
		next := off
		err = kafkaproto.SplitBatches(b, func(h kafkaproto.BatchHeader, _ []byte) bool {
			last := h.BaseOffset + int64(h.LastOffsetDelta)
			if last < off {
				return true // a batch before off (the read starts at the batch holding off)
			}
			if h.Idempotent() && h.Attributes&kafkaproto.AttrControl == 0 {
				p.recordLocked(h, h.BaseOffset, last, openedAt)
			}
			next = last + 1
			return true
		})
		if err != nil {
			return fmt.Errorf("scanning offset %d: %w", off, err)
		}
		if next == off {
			if len(b) == 0 || readBytes >= 1<<30 {
				return nil // nothing more readable; the state covers what was
			}
			readBytes *= 4 // a batch larger than the read: read more
			continue
		}
		off = next
	}
	p.expireLocked(openedAt)
	return nil
}

// Producer state snapshots. At a clean close each partition writes
//
//	<data dir>/producer-state/<topic>-<partition>.json
//	{"version":1,"topic_id":"<32 hex>","offset":N,"producers":[{"id":..,"epoch":..,"last_seen":ms,
//	  "batches":[{"first_seq":..,"last_seq":..,"base_offset":..,"last_offset":..,"max_timestamp":..}]}]}
//
// where offset is the high watermark the state covers. On open a snapshot
// is used when its topic id matches and offset <= the log's end; the log is
// then scanned from offset only. A snapshot is never required: without
// one (crash, mismatch, unreadable) the whole log is scanned. A stale
// snapshot is harmless because scanning the batches after it re-applies
// them in order.
const snapshotDir = "producer-state"

type snapshotFile struct {
	Version   int                `json:"version"`
	TopicID   string             `json:"topic_id"`
	Offset    int64              `json:"offset"`
	Producers []snapshotProducer `json:"producers"`
}

type snapshotProducer struct {
	ID       int64           `json:"id"`
	Epoch    int16           `json:"epoch"`
	LastSeen int64           `json:"last_seen"`
	Batches  []snapshotBatch `json:"batches"`
}

type snapshotBatch struct {
	FirstSeq     int32 `json:"first_seq"`
	LastSeq      int32 `json:"last_seq"`
	BaseOffset   int64 `json:"base_offset"`
	LastOffset   int64 `json:"last_offset"`
	MaxTimestamp int64 `json:"max_timestamp"`
}

func snapshotPath(dataDir, topic string, index int32) string {
	return filepath.Join(dataDir, snapshotDir, fmt.Sprintf("%s-%d.json", topic, index))
}

func removeSnapshot(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing producer snapshot: %w", err)
	}
	return nil
}

// writeSnapshotLocked records the producer state at the high watermark.
// Requires appendMu.
func (p *partition) writeSnapshotLocked() error {
	if len(p.producers) == 0 {
		return removeSnapshot(p.snapshot)
	}
	f := snapshotFile{Version: stateVersion, TopicID: hex.EncodeToString(p.topicID[:]), Offset: p.hw.Load()}
	for id, st := range p.producers {
		sp := snapshotProducer{ID: id, Epoch: st.epoch, LastSeen: st.lastSeen}
		for _, b := range st.batches {
			sp.Batches = append(sp.Batches, snapshotBatch{b.firstSeq, b.lastSeq, b.baseOffset, b.lastOffset, b.maxTimestamp})
		}
		f.Producers = append(f.Producers, sp)
	}
	if err := os.MkdirAll(filepath.Dir(p.snapshot), 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", filepath.Dir(p.snapshot), err)
	}
	return writeJSON(p.snapshot, f)
}

// loadSnapshotLocked loads the snapshot if it fits a log ending at end and
// returns the offset to scan from. Requires appendMu.
func (p *partition) loadSnapshotLocked(end int64, logger *slog.Logger) (int64, bool) {
	var f snapshotFile
	ok, err := readJSON(p.snapshot, &f)
	if err != nil {
		logger.Warn("ignoring producer state snapshot", "path", p.snapshot, "err", err)
		return 0, false
	}
	if !ok || f.Version != stateVersion || f.TopicID != hex.EncodeToString(p.topicID[:]) || f.Offset > end || f.Offset < 0 {
		return 0, false
	}
	for _, sp := range f.Producers {
		st := &producerState{epoch: sp.Epoch, lastSeen: sp.LastSeen}
		for _, b := range sp.Batches {
			st.batches = append(st.batches, batchMeta{b.FirstSeq, b.LastSeq, b.BaseOffset, b.LastOffset, b.MaxTimestamp})
		}
		if len(st.batches) > maxCachedBatches {
			st.batches = st.batches[len(st.batches)-maxCachedBatches:]
		}
		p.producers[sp.ID] = st
	}
	return f.Offset, true
}
