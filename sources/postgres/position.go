package postgres

import (
	"encoding/json"
	"fmt"

	"github.com/jackc/pglogrepl"
)

// positionVersion is the version of the Position encoding. Decoding accepts
// this version and the one before it (none yet: v1 is the first).
const positionVersion = 1

// position is what a Position encodes (JSON, DESIGN.md "Position"):
//
//		{"v":1,"flush":N,"commit":N,"lsn":N,"seq":N,"pending":{...}}
//
//	  - flush: the LSN confirmed on the slot once this position is acked: every
//	    transaction whose commit record starts before it is done.
//	  - commit, lsn, seq: inside the transaction committed at commit (commit
//	    record LSN), changes 1..seq are done (lsn is the WAL LSN of change seq,
//	    for people; seq disambiguates changes sharing an LSN, as a COPY's
//	    multi-insert does). seq 0: between transactions.
//	  - pending: tables whose snapshot is not finished, with the last key
//	    emitted (text values in key order). Absent once every table is done.
//	  - snap: the LSN streaming starts at after the snapshot (the exported
//	    snapshot's consistent point); set while pending is non-empty.
//
// Numbers are LSNs as unsigned integers (JSON numbers are exact up to 2^53,
// i.e. 8 PiB of WAL).
type position struct {
	V       int                       `json:"v"`
	Flush   uint64                    `json:"flush"`
	Commit  uint64                    `json:"commit,omitempty"`
	LSN     uint64                    `json:"lsn,omitempty"`
	Seq     uint64                    `json:"seq,omitempty"`
	Snap    uint64                    `json:"snap,omitempty"`
	Pending map[string]*tableProgress `json:"pending,omitempty"`
}

// tableProgress is the snapshot checkpoint of one table, or of one key
// range of a table split across workers (then keyed "schema.table#i").
type tableProgress struct {
	// After is the key of the last row emitted (text forms, key order);
	// nil: nothing emitted yet.
	After []*string `json:"after"`
	// Table names the table of a range entry; Lo (inclusive) and Hi
	// (exclusive) bound its first key column (text forms; nil: unbounded).
	Table string  `json:"table,omitempty"`
	Lo    *string `json:"lo,omitempty"`
	Hi    *string `json:"hi,omitempty"`
}

// tableOf is the table an entry of position.Pending belongs to.
func tableOf(id string, tp *tableProgress) string {
	if tp != nil && tp.Table != "" {
		return tp.Table
	}
	return id
}

func (p *position) encode() []byte {
	p.V = positionVersion
	b, err := json.Marshal(p)
	if err != nil {
		panic(fmt.Sprintf("postgres: encoding position: %v", err)) // plain structs: cannot fail
	}
	return b
}

func decodePosition(b []byte) (*position, error) {
	if len(b) == 0 {
		return nil, nil
	}
	var p position
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrPosition, err)
	}
	if p.V != positionVersion {
		return nil, fmt.Errorf("%w: version %d (this build reads %d)", ErrPosition, p.V, positionVersion)
	}
	return &p, nil
}

// covers reports whether change seq of the transaction committed at commit
// is at or before p, so a resumed stream must skip it.
func (p *position) covers(commit pglogrepl.LSN, seq uint64) bool {
	switch {
	case uint64(commit) < p.Commit:
		return true
	case uint64(commit) == p.Commit:
		return seq <= p.Seq
	}
	// A whole transaction acked (seq 0) moved flush past its commit record.
	return uint64(commit) < p.Flush
}

func lsnOf(v uint64) pglogrepl.LSN { return pglogrepl.LSN(v) }
