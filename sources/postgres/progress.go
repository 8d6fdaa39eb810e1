package postgres

import (
	"sort"
	"sync"
	"time"
)

// Progress is the snapshot's progress, for logs and `sluice status`.
type Progress struct {
	Active     bool            // a snapshot is running
	RowsDone   int64           // rows read so far (this run)
	RowsTotal  int64           // estimate: sum of pg_class.reltuples (at least RowsDone)
	RatePerSec float64         // rows per second since the snapshot started
	ETASeconds float64         // -1 when unknown
	Tables     []TableProgress // per table, in name order
}

// TableProgress is one table's snapshot progress.
type TableProgress struct {
	Table     string // schema.table
	RowsDone  int64
	RowsTotal int64 // estimate
	Finished  bool
}

type progress struct {
	mu      sync.Mutex
	active  bool
	started time.Time
	tables  map[string]*TableProgress
}

func (p *progress) addTable(name string, est int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tables == nil {
		p.tables = map[string]*TableProgress{}
	}
	if !p.active {
		p.active, p.started = true, time.Now()
	}
	p.tables[name] = &TableProgress{Table: name, RowsTotal: est}
}

func (p *progress) add(name string, rows int64, finished bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if t := p.tables[name]; t != nil {
		t.RowsDone += rows
		t.Finished = t.Finished || finished
		if t.Finished || t.RowsTotal < t.RowsDone {
			t.RowsTotal = max(t.RowsTotal, t.RowsDone)
			if t.Finished {
				t.RowsTotal = t.RowsDone
			}
		}
	}
}

func (p *progress) finish() {
	p.mu.Lock()
	p.active = false
	p.mu.Unlock()
}

func (p *progress) rowsDone() int64 { return p.snapshot().RowsDone }

func (p *progress) snapshot() Progress {
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

// Progress reports the snapshot's progress: rows done of the estimated
// total per table, the rate and an ETA. Safe for concurrent use.
func (s *Source) Progress() Progress { return s.prog.snapshot() }

// SnapshotProgress implements connectors.SnapshotProgresser.
func (s *Source) SnapshotProgress() (done, total int64, active bool) {
	p := s.prog.snapshot()
	return p.RowsDone, p.RowsTotal, p.Active
}
