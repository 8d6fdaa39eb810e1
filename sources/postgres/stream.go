package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/sluicehq/sluice/connectors"
)

// errStop ends a window stream at its stop LSN.
var errStop = errors.New("postgres: window reached its stop LSN")

// streamer is the state of one stream call, owned by the run goroutine.
type streamer struct {
	s       *Source
	from    position // resume point: changes it covers are skipped
	emitted position // last position pushed
	stopAt  uint64   // > 0: stop before the first transaction committing at or after it
	rels    map[uint32]*relation
	scratch []tupleCol

	inTx     bool
	commit   uint64
	xid      int64
	commitMs int64
	seq      uint64
	lastLSN  uint64
	recs     []connectors.Record
	now      int64
	routed   []string // outbox ids routed in the open transaction (OutboxCleanup)

	conn       *pgconn.PgConn
	lastIdle   time.Time // last keepalive position pushed
	sentFlush  uint64
	nextStatus time.Time
}

// stream replicates from the slot starting at from, pushing segments, and
// reconnects with backoff on connection failures (resuming after the last
// position it pushed). With stopAt > 0 it returns, between transactions,
// once the stream reached stopAt; otherwise it runs until ctx is done or a
// fatal error (slot dropped, undecodable message). It owns conn (may be nil).
func (s *Source) stream(ctx context.Context, conn *pgconn.PgConn, from *position, stopAt uint64) (*position, error) {
	st := &streamer{s: s, from: *from, emitted: *from, stopAt: stopAt}
	backoff := s.cfg.ReconnectMin
	for {
		if conn == nil {
			var err error
			conn, err = connectReplication(ctx, s.cfg.DSN)
			if err != nil {
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
				s.m.connErrors.Inc()
				s.log.Warn("replication connection failed; retrying", "err", err, "backoff", backoff)
				if !sleep(ctx, backoff) {
					return nil, ctx.Err()
				}
				backoff = min(2*backoff, s.cfg.ReconnectMax)
				continue
			}
		}
		before := st.emitted
		err := st.session(ctx, conn)
		_ = conn.Close(context.Background())
		conn = nil
		switch {
		case errors.Is(err, errStop):
			return &st.emitted, nil
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case isSlotMissing(err):
			return nil, fmt.Errorf("%w: %s: %v", ErrSlotMissing, s.cfg.Slot, err)
		case errors.Is(err, ErrDecode):
			return nil, err
		}
		s.m.connErrors.Inc()
		if st.emitted.Flush != before.Flush || st.emitted.Seq != before.Seq {
			backoff = s.cfg.ReconnectMin
		}
		s.log.Warn("replication stream lost; reconnecting", "err", err, "backoff", backoff, "lsn", pglogrepl.LSN(st.emitted.Flush).String())
		if !sleep(ctx, backoff) {
			return nil, ctx.Err()
		}
		backoff = min(2*backoff, s.cfg.ReconnectMax)
		// Everything pushed stays pushed: resume after it.
		st.from = st.emitted
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// session runs one START_REPLICATION on conn until an error, ctx, or the
// stop LSN (errStop).
func (st *streamer) session(ctx context.Context, conn *pgconn.PgConn) error {
	s := st.s
	st.conn, st.rels, st.inTx, st.recs, st.routed = conn, map[uint32]*relation{}, false, nil, st.routed[:0]
	defer func() { st.conn = nil; s.wake.set(nil) }()
	args := []string{"proto_version '1'", "publication_names '" + s.cfg.Publication + "'"}
	if s.messageOutbox() {
		args = append(args, "messages 'true'") // Postgres 14+
	}
	err := pglogrepl.StartReplication(ctx, conn, s.cfg.Slot, pglogrepl.LSN(st.emitted.Flush), pglogrepl.StartReplicationOptions{
		PluginArgs: args,
	})
	if err != nil {
		return fmt.Errorf("starting replication on slot %s at %s: %w", s.cfg.Slot, pglogrepl.LSN(st.emitted.Flush), err)
	}
	s.log.Info("streaming", "slot", s.cfg.Slot, "lsn", pglogrepl.LSN(st.emitted.Flush).String())
	if err := st.sendStatus(); err != nil {
		return err
	}
	for {
		pctx, pcancel := context.WithDeadline(ctx, st.nextStatus)
		s.wake.set(pcancel)
		err := st.receive(ctx, pctx)
		pcancel()
		if err != nil {
			return err
		}
		if err := st.sendStatus(); err != nil {
			return err
		}
	}
}

// receive handles messages until pctx ends (status due, or Ack woke it:
// returns nil) or an error.
func (st *streamer) receive(ctx, pctx context.Context) error {
	for {
		msg, err := st.conn.ReceiveMessage(pctx)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if pctx.Err() != nil && pgconn.Timeout(err) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				return nil
			}
			return fmt.Errorf("receiving: %w", err)
		}
		switch msg := msg.(type) {
		case *pgproto3.CopyData:
			if len(msg.Data) == 0 {
				continue
			}
			switch msg.Data[0] {
			case pglogrepl.PrimaryKeepaliveMessageByteID:
				pkm, err := pglogrepl.ParsePrimaryKeepaliveMessage(msg.Data[1:])
				if err != nil {
					return fmt.Errorf("%w: keepalive: %v", ErrDecode, err)
				}
				if err := st.idle(ctx, uint64(pkm.ServerWALEnd)); err != nil {
					return err
				}
				if pkm.ReplyRequested {
					if err := st.sendStatus(); err != nil {
						return err
					}
				}
			case pglogrepl.XLogDataByteID:
				xld, err := pglogrepl.ParseXLogData(msg.Data[1:])
				if err != nil {
					return fmt.Errorf("%w: XLogData: %v", ErrDecode, err)
				}
				if err := st.handleSafe(ctx, uint64(xld.WALStart), xld.WALData); err != nil {
					return err
				}
			}
		case *pgproto3.ErrorResponse:
			return pgconn.ErrorResponseToPgError(msg)
		case *pgproto3.CopyDone:
			return fmt.Errorf("server ended the replication stream")
		}
		if a := st.s.acked.Load(); a > st.sentFlush && time.Until(st.nextStatus) < st.s.cfg.StatusInterval-100*time.Millisecond {
			if err := st.sendStatus(); err != nil {
				return err
			}
		}
	}
}

// sendStatus confirms the acknowledged flush LSN (never more).
func (st *streamer) sendStatus() error {
	flush := st.s.acked.Load()
	if flush == 0 {
		flush = st.from.Flush // acked in an earlier run, or the slot's own consistent point
	}
	// Invariant: ack after durable write. flush comes only from Ack (or
	// from a position already acknowledged before this run).
	err := pglogrepl.SendStandbyStatusUpdate(context.Background(), st.conn, pglogrepl.StandbyStatusUpdate{
		WALWritePosition: pglogrepl.LSN(flush), WALFlushPosition: pglogrepl.LSN(flush), WALApplyPosition: pglogrepl.LSN(flush),
	})
	if err != nil {
		return fmt.Errorf("sending standby status: %w", err)
	}
	st.sentFlush = flush
	st.nextStatus = time.Now().Add(st.s.cfg.StatusInterval)
	return nil
}

func (st *streamer) push(ctx context.Context, seg segment) error {
	return st.s.q.push(ctx, seg, st.s.cfg.StatusInterval, st.sendStatus)
}

// idle handles a keepalive: between transactions, WAL up to walEnd holds
// nothing more for us, so an empty batch can carry the slot forward.
func (st *streamer) idle(ctx context.Context, walEnd uint64) error {
	if st.inTx || st.emitted.Seq != 0 || walEnd <= st.emitted.Flush {
		return nil
	}
	if st.stopAt > 0 && walEnd >= st.stopAt {
		st.emitted = position{Flush: max(st.emitted.Flush, st.stopAt), Pending: st.from.Pending}
		return errStop
	}
	// At most one such position a second: each costs the runtime a stored
	// checkpoint, and keepalives come often while other tables are busy.
	if time.Since(st.lastIdle) < time.Second {
		return nil
	}
	st.lastIdle = time.Now()
	pos := position{Flush: walEnd, Pending: st.from.Pending}
	if err := st.push(ctx, segment{pos: pos.encode()}); err != nil {
		return err
	}
	st.emitted = pos
	return nil
}

// handleSafe decodes one pgoutput message, turning a panic into ErrDecode
// with the LSN.
func (st *streamer) handleSafe(ctx context.Context, lsn uint64, data []byte) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w at LSN %s: panic: %v", ErrDecode, pglogrepl.LSN(lsn), r)
		}
	}()
	if err := st.handle(ctx, lsn, data); err != nil {
		if errors.Is(err, errStop) || errors.Is(err, ErrDecode) || ctx.Err() != nil {
			return err
		}
		return fmt.Errorf("%w at LSN %s: %w", ErrDecode, pglogrepl.LSN(lsn), err)
	}
	return nil
}

func (st *streamer) handle(ctx context.Context, lsn uint64, data []byte) error {
	if len(data) == 0 {
		return fmt.Errorf("empty message")
	}
	s := st.s
	switch data[0] {
	case 'I', 'U', 'D':
		st.seq++
		if !st.inTx {
			return nil
		}
		if st.from.covers(pglogrepl.LSN(st.commit), st.seq) {
			if s.cleaner != nil && data[0] == 'I' {
				// Routed before the resume point (perhaps by an earlier run
				// that stopped inside this transaction, before its commit
				// was acked): still the cleaner's to delete.
				return st.coveredOutboxID(data)
			}
			return nil
		}
		var m changeMsg
		var err error
		m, st.scratch, err = parseChange(data, st.scratch[:0])
		if err != nil {
			return err
		}
		rel := st.rels[m.relID]
		if rel == nil {
			return fmt.Errorf("change for relation %d before its Relation message", m.relID)
		}
		if rel.outbox {
			return st.routeRow(ctx, lsn, rel, &m)
		}
		if rel.t == nil {
			return nil
		}
		meta := eventMeta{snapshot: "false", tsMs: st.commitMs, lsn: int64(lsn), txID: st.xid, now: st.now, sizeHint: len(data)}
		var before, after connectors.Row
		var op connectors.Op
		if m.old != nil {
			if before, err = s.imageFrom(rel, m.old, m.oldKind == 'K'); err != nil {
				return err
			}
		}
		switch m.typ {
		case 'I':
			op = connectors.OpCreate
		case 'U':
			op = connectors.OpUpdate
		case 'D':
			op = connectors.OpDelete
		}
		if m.new != nil {
			if after, err = s.imageFrom(rel, m.new, false); err != nil {
				return err
			}
		}
		if st.recs, err = s.enc.records(st.recs, rel.t, op, before, after, &meta); err != nil {
			return err
		}
		st.lastLSN = lsn
		if len(st.recs) >= s.cfg.MaxBatch {
			return st.flushMid(ctx)
		}
		return nil
	case 'B':
		msg, err := pglogrepl.Parse(data)
		if err != nil {
			return err
		}
		b := msg.(*pglogrepl.BeginMessage)
		if st.stopAt > 0 && uint64(b.FinalLSN) >= st.stopAt {
			st.emitted = position{Flush: max(st.emitted.Flush, st.stopAt), Pending: st.from.Pending}
			return errStop
		}
		st.inTx, st.commit, st.xid, st.seq, st.routed = true, uint64(b.FinalLSN), int64(b.Xid), 0, st.routed[:0]
		st.commitMs, st.now = b.CommitTime.UnixMilli(), time.Now().UnixMilli()
		return nil
	case 'C':
		msg, err := pglogrepl.Parse(data)
		if err != nil {
			return err
		}
		c := msg.(*pglogrepl.CommitMessage)
		st.inTx = false
		pos := position{Flush: uint64(c.TransactionEndLSN), Pending: st.from.Pending}
		if len(st.routed) > 0 {
			// Before the push: an Ack covering this commit can only follow
			// it. Keyed by the commit LSN, which only a position at or past
			// this commit covers (cleanBound).
			s.cleaner.Add(st.commit, st.routed...)
			st.routed = st.routed[:0]
		}
		if uint64(c.TransactionEndLSN) <= st.emitted.Flush && len(st.recs) == 0 {
			return nil // replayed and skipped whole
		}
		recs := st.recs
		st.recs = nil
		if err := st.push(ctx, segment{recs: recs, pos: pos.encode()}); err != nil {
			return err
		}
		st.emitted = pos
		return nil
	case 'R':
		msg, err := pglogrepl.Parse(data)
		if err != nil {
			return err
		}
		st.relation(msg.(*pglogrepl.RelationMessage))
		return nil
	case 'T':
		st.seq++
		if !st.inTx || st.from.covers(pglogrepl.LSN(st.commit), st.seq) {
			return nil
		}
		msg, err := pglogrepl.Parse(data)
		if err != nil {
			return err
		}
		if s.cfg.Truncate == TruncateSkip {
			return nil
		}
		meta := eventMeta{snapshot: "false", tsMs: st.commitMs, lsn: int64(lsn), txID: st.xid, now: st.now}
		for _, id := range msg.(*pglogrepl.TruncateMessage).RelationIDs {
			if rel := st.rels[id]; rel != nil && rel.t != nil {
				r, err := s.enc.truncateRecord(rel.t, &meta)
				if err != nil {
					return err
				}
				st.recs = append(st.recs, r)
			}
		}
		st.lastLSN = lsn
		return nil
	case 'M':
		if !s.messageOutbox() || !st.inTx {
			return nil // non-transactional messages (heartbeats) are not events
		}
		msg, err := pglogrepl.Parse(data)
		if err != nil {
			return err
		}
		m, ok := msg.(*pglogrepl.LogicalDecodingMessage)
		if !ok || !m.Transactional {
			return nil
		}
		st.seq++
		if st.from.covers(pglogrepl.LSN(st.commit), st.seq) {
			return nil
		}
		rec, ok, err := s.cfg.Outbox.RouteMessage(m.Prefix, m.Content)
		if err != nil {
			return fmt.Errorf("outbox message with prefix %q: %w", m.Prefix, err)
		}
		if !ok {
			return nil // another prefix
		}
		return st.appendEvent(ctx, lsn, rec)
	default: // Type, Origin: nothing to emit
		return nil
	}
}

// routeRow routes a change of the outbox table: an insert becomes an event
// record; updates and deletes are ignored (a row deleted in the same
// transaction still routes from its insert).
func (st *streamer) routeRow(ctx context.Context, lsn uint64, rel *relation, m *changeMsg) error {
	if m.typ != 'I' || m.new == nil {
		return nil
	}
	after, err := st.s.imageFrom(rel, m.new, false)
	if err != nil {
		return err
	}
	rec, err := st.s.cfg.Outbox.RouteRow(after)
	if err != nil {
		return fmt.Errorf("outbox table %s: %w", rel.name, err)
	}
	if st.s.cleaner != nil {
		id, _ := rec.Header("id")
		st.routed = append(st.routed, string(id))
	}
	return st.appendEvent(ctx, lsn, rec)
}

// coveredOutboxID notes the id of an outbox insert the resume point
// covers (not emitted again), so cleanup still deletes its row.
func (st *streamer) coveredOutboxID(data []byte) error {
	var m changeMsg
	var err error
	m, st.scratch, err = parseChange(data, st.scratch[:0])
	if err != nil {
		return err
	}
	rel := st.rels[m.relID]
	if rel == nil || !rel.outbox || m.new == nil {
		return nil
	}
	after, err := st.s.imageFrom(rel, m.new, false)
	if err != nil {
		return err
	}
	rec, err := st.s.cfg.Outbox.RouteRow(after)
	if err != nil {
		return nil // never routed (the stream failed on it): nothing to delete
	}
	id, _ := rec.Header("id")
	st.routed = append(st.routed, string(id))
	return nil
}

// appendEvent adds a routed outbox event to the transaction's records, in
// commit order, stamped with the commit time; its position and ack work
// like any other record's.
func (st *streamer) appendEvent(ctx context.Context, lsn uint64, rec connectors.Record) error {
	rec.Timestamp = time.UnixMilli(st.commitMs)
	st.recs = append(st.recs, rec)
	st.lastLSN = lsn
	if len(st.recs) >= st.s.cfg.MaxBatch {
		return st.flushMid(ctx)
	}
	return nil
}

// flushMid pushes the records of a large transaction so far, with a
// position inside it.
func (st *streamer) flushMid(ctx context.Context) error {
	pos := position{Flush: st.emitted.Flush, Commit: st.commit, LSN: st.lastLSN, Seq: st.seq, Pending: st.from.Pending}
	recs := st.recs
	st.recs = make([]connectors.Record, 0, len(recs))
	if err := st.push(ctx, segment{recs: recs, pos: pos.encode()}); err != nil {
		return err
	}
	st.emitted = pos
	return nil
}

// relation records a Relation message: the columns that follow for it,
// which change with ALTER TABLE (the next change after a schema change is
// preceded by a new Relation message).
func (st *streamer) relation(m *pglogrepl.RelationMessage) {
	name := m.Namespace + "." + m.RelationName
	t := st.s.byName[name]
	rel := &relation{t: t, name: name}
	if t == nil && st.s.obx != nil && st.s.obx.fullName() == name {
		rel.outbox = true
		for _, c := range m.Columns {
			rel.cols = append(rel.cols, column{name: c.Name, typ: st.s.types.resolve(c.DataType), typmod: c.TypeModifier, ident: c.Flags&1 != 0})
		}
	}
	if t != nil {
		for _, c := range m.Columns {
			col := column{name: c.Name, typ: st.s.types.resolve(c.DataType), typmod: c.TypeModifier, ident: c.Flags&1 != 0}
			if t.key != nil {
				for _, k := range t.key {
					col.isKey = col.isKey || k == c.Name
				}
			} else {
				col.isKey = c.Flags&1 != 0
			}
			rel.cols = append(rel.cols, col)
		}
	}
	st.rels[m.RelationID] = rel
}
