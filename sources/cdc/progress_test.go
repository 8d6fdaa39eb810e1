package cdc

import "testing"

func TestTracker(t *testing.T) {
	t.Parallel()
	var p Tracker
	if got := p.Snapshot(); got.Active || got.RowsDone != 0 || got.ETASeconds != -1 {
		t.Fatalf("zero tracker: %+v", got)
	}
	p.AddTable("db.b", 10)
	p.AddTable("db.a", -1)
	p.Add("db.a", 5, false)
	p.Add("db.b", 4, false)
	p.Add("db.x", 100, true) // unknown table: ignored
	got := p.Snapshot()
	if !got.Active || got.RowsDone != 9 || got.RowsTotal != 15 || got.Tables[0].Table != "db.a" {
		t.Fatalf("progress %+v", got)
	}
	p.Add("db.b", 1, true)
	p.Finish()
	got = p.Snapshot()
	if got.Active || got.Tables[1].RowsTotal != 5 || !got.Tables[1].Finished {
		t.Fatalf("finished progress %+v", got)
	}
}
