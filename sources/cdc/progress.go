package cdc

import (
	"sort"
	"sync"
	"time"
)

// Progress is a snapshot's progress, for logs and `sluice status`.
type Progress struct {
	Active     bool            // a snapshot is running
	RowsDone   int64           // rows read so far (this run)
	RowsTotal  int64           // estimate (at least RowsDone)
	RatePerSec float64         // rows per second since the snapshot started
	ETASeconds float64         // -1 when unknown
	Tables     []TableProgress // per table, in name order
}

// TableProgress is one table's snapshot progress.
type TableProgress struct {
	Table     string
	RowsDone  int64
	RowsTotal int64 // estimate
	Finished  bool
}

// Tracker accumulates Progress. The zero value is ready; safe for
// concurrent use (snapshot workers add, status readers read).
type Tracker struct {
	mu      sync.Mutex
	active  bool
	started time.Time
	tables  map[string]*TableProgress
}

// AddTable starts tracking a table with an estimated row count; the first
// call marks the snapshot active.
func (p *Tracker) AddTable(name string, est int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tables == nil {
		p.tables = map[string]*TableProgress{}
	}
	if !p.active {
		p.active, p.started = true, time.Now()
	}
	p.tables[name] = &TableProgress{Table: name, RowsTotal: max(est, 0)}
}

// Add counts rows of a table; finished marks the table done (its total
// becomes exact).
func (p *Tracker) Add(name string, rows int64, finished bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	t := p.tables[name]
	if t == nil {
		return
	}
	t.RowsDone += rows
	t.Finished = t.Finished || finished
	t.RowsTotal = max(t.RowsTotal, t.RowsDone)
	if t.Finished {
		t.RowsTotal = t.RowsDone
	}
}

// Finish marks the snapshot over.
func (p *Tracker) Finish() {
	p.mu.Lock()
	p.active = false
	p.mu.Unlock()
}

// Snapshot returns the current progress.
func (p *Tracker) Snapshot() Progress {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := Progress{Active: p.active, ETASeconds: -1}
	for _, t := range p.tables {
		out.RowsDone += t.RowsDone
		out.RowsTotal += t.RowsTotal
		out.Tables = append(out.Tables, *t)
	}
	sort.Slice(out.Tables, func(i, j int) bool { return out.Tables[i].Table < out.Tables[j].Table })
	if el := time.Since(p.started).Seconds(); p.active && el > 0 {
		out.RatePerSec = float64(out.RowsDone) / el
		if out.RatePerSec > 0 {
			out.ETASeconds = float64(out.RowsTotal-out.RowsDone) / out.RatePerSec
		}
	}
	return out
}
