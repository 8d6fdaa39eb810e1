package mysql

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/go-mysql-org/go-mysql/replication"
)

func TestGTIDSetParsingAndOrder(t *testing.T) {
	t.Parallel()
	const u1, u2 = "3e11fa47-71ca-11e1-9e33-c80aa9429562", "5c4a8f2e-0000-11e1-9e33-c80aa9429562"
	tests := []struct {
		name, flavor, a, b string
		after              bool
	}{
		{"mysql later interval", FlavorMySQL, u1 + ":1-10", u1 + ":1-5", true},
		{"mysql equal", FlavorMySQL, u1 + ":1-5", u1 + ":1-5", false},
		{"mysql earlier", FlavorMySQL, u1 + ":1-5", u1 + ":1-10", false},
		{"mysql extra uuid", FlavorMySQL, u1 + ":1-5," + u2 + ":1", u1 + ":1-5", true},
		{"mysql gaps", FlavorMySQL, u1 + ":1-3:5-7", u1 + ":1-7", false},
		{"mysql gap filled", FlavorMySQL, u1 + ":1-7", u1 + ":1-3:5-7", true},
		{"mariadb later seq", FlavorMariaDB, "0-1-20", "0-1-10", true},
		{"mariadb equal", FlavorMariaDB, "0-1-10", "0-1-10", false},
		{"mariadb extra domain", FlavorMariaDB, "0-1-10,1-2-3", "0-1-10", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := gtidAfter(tc.flavor, tc.a, tc.b)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.after {
				t.Fatalf("after(%s, %s) = %v, want %v", tc.a, tc.b, got, tc.after)
			}
		})
	}
}

func TestGTIDSetUpdateAndString(t *testing.T) {
	t.Parallel()
	const u = "3e11fa47-71ca-11e1-9e33-c80aa9429562"
	set, err := parseGTIDSet(FlavorMySQL, u+":1-5")
	if err != nil {
		t.Fatal(err)
	}
	if err := set.Update(u + ":6"); err != nil {
		t.Fatal(err)
	}
	if got, want := set.String(), u+":1-6"; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	m, err := parseGTIDSet(FlavorMariaDB, "0-1-5")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Update("0-1-6"); err != nil {
		t.Fatal(err)
	}
	if got := m.String(); got != "0-1-6" {
		t.Fatalf("mariadb set %s", got)
	}
	for _, bad := range []string{"nope", u + ":x"} {
		if _, err := parseGTIDSet(FlavorMySQL, bad); !errors.Is(err, ErrPosition) {
			t.Errorf("%q: got %v, want ErrPosition", bad, err)
		}
	}
}

func TestPositionRoundTrip(t *testing.T) {
	t.Parallel()
	schemas := map[string]*tableSchema{"db.t": {DB: "db", Name: "t", Cols: []column{{Name: "id", Kind: kInt, Width: 4}, {Name: "e", Kind: kEnum, Labels: []string{"a", "b"}}}, Key: []int{0}}}
	w := wirePosition{Flavor: FlavorMariaDB, GTID: "0-1-7", File: "binlog.000001", Pos: 42, Schemas: encodeSchemas(schemas),
		Snap: &snapState{Tables: map[string]*chunkState{"db.t": {After: []byte(`["NDI="]`)}}}}
	b := w.encode()
	if b[0] != positionVersion {
		t.Fatalf("version byte %d", b[0])
	}
	p, err := decodePosition(b)
	if err != nil {
		t.Fatal(err)
	}
	if p.GTID != "0-1-7" || p.File != "binlog.000001" || p.Pos != 42 || p.Schemas["db.t"].Cols[1].Labels[1] != "b" ||
		!bytes.Equal(p.Snap.Tables["db.t"].After, []byte(`["NDI="]`)) {
		t.Fatalf("decoded %+v", p)
	}
	for _, tc := range []struct {
		name string
		in   []byte
	}{
		{"version", append([]byte{9}, b[1:]...)},
		{"json", []byte{1, '{'}},
		{"flavor", append([]byte{1}, `{"flavor":"x","file":"f"}`...)},
		{"no place", append([]byte{1}, `{"flavor":"mysql"}`...)},
		{"key range", append([]byte{1}, `{"flavor":"mysql","file":"f","schemas":{"a.b":{"c":[{"n":"x"}],"pk":[3]}}}`...)},
	} {
		if _, err := decodePosition(tc.in); !errors.Is(err, ErrPosition) {
			t.Errorf("%s: got %v, want ErrPosition", tc.name, err)
		}
	}
	if p, err := decodePosition(nil); p != nil || err != nil {
		t.Fatalf("nil position: %v %v", p, err)
	}
}

// FuzzDecodePosition: never panics; whatever decodes re-encodes and decodes
// to the same place.
func FuzzDecodePosition(f *testing.F) {
	f.Add((&wirePosition{Flavor: FlavorMySQL, File: "b.1", Pos: 4}).encode())
	f.Add((&wirePosition{Flavor: FlavorMariaDB, GTID: "0-1-2,1-1-1"}).encode())
	f.Add([]byte{1, '{', '}'})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := decodePosition(b)
		if err != nil || p == nil {
			return
		}
		w := wirePosition{Flavor: p.Flavor, GTID: p.GTID, File: p.File, Pos: p.Pos, Schemas: encodeSchemas(p.Schemas), Snap: p.Snap}
		q, err := decodePosition(w.encode())
		if err != nil {
			t.Fatalf("re-decoding: %v", err)
		}
		if q.GTID != p.GTID || q.File != p.File || q.Pos != p.Pos || len(q.Schemas) != len(p.Schemas) {
			t.Fatalf("round trip changed %+v to %+v", p, q)
		}
	})
}

// TestMySQLGTIDSets: MySQL 8 `uuid:interval` sets parse to a canonical
// form (uuids sorted and lower-cased, intervals sorted and merged), and the
// stream's update path (GTID event → GTIDNext → Update) advances them,
// filling gaps and adding new server uuids.
func TestMySQLGTIDSets(t *testing.T) {
	t.Parallel()
	const (
		u1 = "3e11fa47-71ca-11e1-9e33-c80aa9429562"
		u2 = "8a94f357-aab4-11df-86ab-c80aa9429562"
	)
	parse := []struct{ in, want string }{
		{u1 + ":1-5", u1 + ":1-5"},
		{u1 + ":1-5:7-9", u1 + ":1-5:7-9"},
		{u1 + ":7-9:1-5", u1 + ":1-5:7-9"},                       // intervals sorted
		{u1 + ":1-5:6-9", u1 + ":1-9"},                           // adjacent intervals merge
		{u1 + ":1-5:3-8", u1 + ":1-8"},                           // overlapping merge
		{u2 + ":1-3," + u1 + ":1-5", u1 + ":1-5," + u2 + ":1-3"}, // uuids sorted
		{strings.ToUpper(u1) + ":4", u1 + ":4"},                  // lower-cased
		{u1 + ":1-5, " + u2 + ":2", u1 + ":1-5," + u2 + ":2"},    // SHOW output's spaces
		{u1 + ":1-3," + u1 + ":4-6", u1 + ":1-6"},                // one uuid twice
	}
	for _, tc := range parse {
		set, err := parseGTIDSet(FlavorMySQL, tc.in)
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if got := set.String(); got != tc.want {
			t.Errorf("%q: got %s, want %s", tc.in, got, tc.want)
		}
		again, err := parseGTIDSet(FlavorMySQL, set.String())
		if err != nil || !again.Equal(set) {
			t.Errorf("%q: the formatted set does not parse back equal: %v", tc.in, err)
		}
	}

	// The stream's path: each transaction's GTID event updates the set; the
	// position after it is the set's String.
	set, err := parseGTIDSet(FlavorMySQL, u1+":1-5:8,"+u2+":1")
	if err != nil {
		t.Fatal(err)
	}
	sid := func(u string) []byte {
		b, err := hex.DecodeString(strings.ReplaceAll(u, "-", ""))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	steps := []struct {
		uuid string
		gno  int64
		want string
	}{
		{u1, 6, u1 + ":1-6:8," + u2 + ":1"},
		{u1, 7, u1 + ":1-8," + u2 + ":1"}, // the gap fills: one interval
		{u2, 2, u1 + ":1-8," + u2 + ":1-2"},
		{"00000000-0000-0000-0000-000000000001", 1, "00000000-0000-0000-0000-000000000001:1," + u1 + ":1-8," + u2 + ":1-2"},
		{u1, 8, "00000000-0000-0000-0000-000000000001:1," + u1 + ":1-8," + u2 + ":1-2"}, // already in: no change
	}
	prev := set.String()
	for i, st := range steps {
		next, err := (&replication.GTIDEvent{SID: sid(st.uuid), GNO: st.gno}).GTIDNext()
		if err != nil {
			t.Fatal(err)
		}
		if err := set.Update(next.String()); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		got := set.String()
		if got != st.want {
			t.Fatalf("step %d (%s:%d): got %s, want %s", i, st.uuid, st.gno, got, st.want)
		}
		if after, err := gtidAfter(FlavorMySQL, got, prev); err != nil || (after != (got != prev)) {
			t.Fatalf("step %d: gtidAfter(%s, %s) = %v, %v", i, got, prev, after, err)
		}
		prev = got
	}
	// A resumed stream starts from the formatted set.
	p, err := decodePosition((&wirePosition{Flavor: FlavorMySQL, GTID: prev, File: "binlog.000003", Pos: 4}).encode())
	if err != nil || p.GTID != prev {
		t.Fatalf("position round trip: %+v, %v", p, err)
	}
}

func TestMySQLGTIDOfEvent(t *testing.T) {
	t.Parallel()
	sid, _ := hex.DecodeString("3e11fa4771ca11e19e33c80aa9429562")
	got, err := mysqlGTID(replication.GTID_EVENT, &replication.GTIDEvent{SID: sid, GNO: 42})
	if err != nil || got != "3e11fa47-71ca-11e1-9e33-c80aa9429562:42" {
		t.Fatalf("gtid event: %q, %v", got, err)
	}
	got, err = mysqlGTID(replication.ANONYMOUS_GTID_EVENT, &replication.GTIDEvent{SID: make([]byte, 16)})
	if err != nil || got != "" {
		t.Fatalf("anonymous gtid event: %q, %v; want none", got, err)
	}
	if _, err := mysqlGTID(replication.GTID_EVENT, &replication.GTIDEvent{SID: []byte{1, 2}, GNO: 1}); err == nil {
		t.Fatal("short SID: want an error")
	}
}
