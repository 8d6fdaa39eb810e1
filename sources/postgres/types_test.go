package postgres

import (
	"encoding/binary"
	"encoding/json"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/connectors"
)

// mapTypes is the test seam for typeResolver: built-in kinds plus arrays.
type mapTypes map[uint32]*typeInfo

func (m mapTypes) resolve(oid uint32) *typeInfo {
	if ti, ok := m[oid]; ok {
		return ti
	}
	if k, ok := builtinKinds[oid]; ok {
		return &typeInfo{oid: oid, kind: k}
	}
	return &typeInfo{oid: oid, kind: kindOther}
}

var testTypes = mapTypes{
	1007: {oid: 1007, kind: kindArray, elem: oidInt4, delim: ','},
	1009: {oid: 1009, kind: kindArray, elem: oidText, delim: ','},
	1001: {oid: 1001, kind: kindArray, elem: oidBytea, delim: ','},
	1020: {oid: 1020, kind: kindArray, elem: 603, delim: ';'},
}

func encodeValue(t *testing.T, v any) string {
	t.Helper()
	b, err := connectors.Row{{Name: "v", Value: v}}.AppendJSON(nil)
	if err != nil {
		t.Fatalf("encoding %#v: %v", v, err)
	}
	return string(b[5 : len(b)-1])
}

func TestDecodeText(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		oid    uint32
		typmod int32
		in     string
		want   string
	}{
		{"bool true", oidBool, -1, "t", "true"},
		{"bool false", oidBool, -1, "f", "false"},
		{"int8 max", oidInt8, -1, "9223372036854775807", "9223372036854775807"},
		{"int2 negative", oidInt2, -1, "-5", "-5"},
		{"float exponent", oidFloat8, -1, "1.5e+100", "1.5e+100"},
		{"float NaN", oidFloat4, -1, "NaN", `"NaN"`},
		{"float -Infinity", oidFloat8, -1, "-Infinity", `"-Infinity"`},
		{"numeric", oidNumeric, -1, "0.10", `"0.10"`},
		{"numeric NaN", oidNumeric, -1, "NaN", `"NaN"`},
		{"bytea", oidBytea, -1, `\x0102ff`, `"AQL/"`},
		{"bytea empty", oidBytea, -1, `\x`, `""`},
		{"bit(1)", oidBit, 1, "1", "true"},
		{"bit(1) zero", oidBit, 1, "0", "false"},
		{"bit(12)", oidBit, 12, "101010101010", `"Cqo="`},
		{"bit(8)", oidBit, 8, "10000000", `"gA=="`},
		{"varbit 3", oidVarbit, -1, "101", `"BQ=="`},
		{"date", oidDate, -1, "2024-02-29", `"2024-02-29"`},
		{"timestamp", oidTimestamp, -1, "2024-02-29 13:14:15.123456", `"2024-02-29T13:14:15.123456"`},
		{"timestamptz utc", oidTimestamptz, -1, "2024-02-29 13:14:15+00", `"2024-02-29T13:14:15Z"`},
		{"timestamptz frac", oidTimestamptz, -1, "2024-02-29 13:14:15.5+00", `"2024-02-29T13:14:15.5Z"`},
		{"timestamptz offset", oidTimestamptz, -1, "2024-02-29 13:14:15+05:30", `"2024-02-29T13:14:15+05:30"`},
		{"timestamptz infinity", oidTimestamptz, -1, "infinity", `"infinity"`},
		{"timestamptz BC", oidTimestamptz, -1, "0044-03-15 12:00:00+00 BC", `"0044-03-15 12:00:00+00 BC"`},
		{"time", oidTime, -1, "13:14:15.25", `"13:14:15.25"`},
		{"timetz", oidTimetz, -1, "13:14:15+02", `"11:14:15Z"`},
		{"timetz wraps", oidTimetz, -1, "01:00:00.5+02", `"23:00:00.5Z"`},
		{"timetz negative", oidTimetz, -1, "23:30:00-01:30", `"01:00:00Z"`},
		{"interval", oidInterval, -1, "P1Y2M3DT4H5M6.5S", `"P1Y2M3DT4H5M6.5S"`},
		{"json", oidJSON, -1, `{"a": [1, 2]}`, `{"a": [1, 2]}`},
		{"jsonb scalar", oidJSONB, -1, `"x"`, `"x"`},
		{"int array", 1007, -1, "{1,2,NULL}", "[1,2,null]"},
		{"int array 2d", 1007, -1, "{{1,2},{3,4}}", "[[1,2],[3,4]]"},
		{"int array dims", 1007, -1, "[0:1]={1,2}", "[1,2]"},
		{"empty array", 1007, -1, "{}", "[]"},
		{"text array quoting", 1009, -1, `{"a b","c\"d",NULL,"NULL",plain}`, `["a b","c\"d",null,"NULL","plain"]`},
		{"bytea array", 1001, -1, `{"\\x01"}`, `["AQ=="]`},
		{"box array", 1020, -1, `{(1,1),(0,0);(2,2),(1,1)}`, `["(1,1),(0,0)","(2,2),(1,1)"]`},
		{"malformed array", 1007, -1, "{1,2", `"{1,2"`},
		{"uuid", oidUUID, -1, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", `"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"`},
		{"unknown type", 600, -1, "(1,2)", `"(1,2)"`},
		{"inet", oidInet, -1, "10.0.0.1", `"10.0.0.1"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := encodeValue(t, decodeText(testTypes.resolve(tc.oid), tc.typmod, []byte(tc.in), testTypes))
			if got != tc.want {
				t.Fatalf("decodeText(%q) = %s, want %s", tc.in, got, tc.want)
			}
		})
	}
}

func TestPositionCovers(t *testing.T) {
	t.Parallel()
	mid := &position{Flush: 100, Commit: 200, Seq: 5}
	between := &position{Flush: 300}
	tests := []struct {
		name   string
		p      *position
		commit uint64
		seq    uint64
		want   bool
	}{
		{"earlier transaction", mid, 150, 9, true},
		{"same transaction, done change", mid, 200, 5, true},
		{"same transaction, next change", mid, 200, 6, false},
		{"later transaction", mid, 250, 1, false},
		{"before flush", between, 299, 1, true},
		{"at flush", between, 300, 1, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := tc.p.covers(lsnOf(tc.commit), tc.seq); got != tc.want {
				t.Fatalf("covers(%d, %d) = %v, want %v", tc.commit, tc.seq, got, tc.want)
			}
		})
	}
}

func TestPositionEncoding(t *testing.T) {
	t.Parallel()
	k := "42"
	p := &position{Flush: 7, Commit: 9, LSN: 8, Seq: 3, Snap: 5, Pending: map[string]*tableProgress{"public.t": {After: []*string{&k, nil}}}}
	b := p.encode()
	if !json.Valid(b) || !strings.HasPrefix(string(b), `{"v":1,`) {
		t.Fatalf("encoding %s", b)
	}
	got, err := decodePosition(b)
	if err != nil || got.Flush != 7 || got.Seq != 3 || *got.Pending["public.t"].After[0] != "42" || got.Pending["public.t"].After[1] != nil {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	for _, bad := range []string{`{"v":2,"flush":1}`, `{"v":0}`, `nope`} {
		if _, err := decodePosition([]byte(bad)); err == nil {
			t.Fatalf("decodePosition(%s) accepted", bad)
		}
	}
	if p, err := decodePosition(nil); p != nil || err != nil {
		t.Fatalf("nil position: %v %v", p, err)
	}
}

func TestConfig(t *testing.T) {
	t.Parallel()
	c := Config{Pipeline: "shop-eu", DSN: "postgres://u:secret@h/db", Tables: []string{"public.a", "b"}}
	c.Defaults()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Slot != "sluice_shop_eu" || c.Publication != "sluice_shop_eu" || c.TopicPrefix != "shop-eu" {
		t.Fatalf("defaults: %+v", c)
	}
	if strings.Contains(c.String(), "secret") {
		t.Fatalf("String leaks the password: %s", c.String())
	}
	bad := Config{Pipeline: "Bad", Tables: []string{"a.b.c", "x", "public.x"}, Snapshot: "sometimes", Toast: "x"}
	bad.Defaults()
	err := bad.Validate()
	for _, field := range []string{"pipeline", "dsn", "tables[0]", "tables[2]", "snapshot", "toast"} {
		if err == nil || !strings.Contains(err.Error(), field+":") {
			t.Fatalf("Validate = %v, want a problem naming %s", err, field)
		}
	}
}

func tuple(cols ...tupleCol) []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(len(cols)))
	for _, c := range cols {
		b = append(b, c.kind)
		if c.kind == 't' || c.kind == 'b' {
			b = binary.BigEndian.AppendUint32(b, uint32(len(c.data)))
			b = append(b, c.data...)
		}
	}
	return b
}

func TestParseChange(t *testing.T) {
	t.Parallel()
	rel := binary.BigEndian.AppendUint32(nil, 77)
	ins := append(append([]byte{'I'}, rel...), 'N')
	ins = append(ins, tuple(tupleCol{'t', []byte("42")}, tupleCol{kind: 'n'}, tupleCol{kind: 'u'})...)
	m, _, err := parseChange(ins, nil)
	if err != nil || m.relID != 77 || len(m.new) != 3 || string(m.new[0].data) != "42" || m.new[1].kind != 'n' || m.new[2].kind != 'u' {
		t.Fatalf("insert: %+v %v", m, err)
	}
	upd := append(append([]byte{'U'}, rel...), 'K')
	upd = append(upd, tuple(tupleCol{'t', []byte("1")})...)
	upd = append(upd, 'N')
	upd = append(upd, tuple(tupleCol{'t', []byte("2")})...)
	m, _, err = parseChange(upd, nil)
	if err != nil || m.oldKind != 'K' || string(m.old[0].data) != "1" || string(m.new[0].data) != "2" {
		t.Fatalf("update: %+v %v", m, err)
	}
	for i := 0; i < len(upd); i++ {
		if _, _, err := parseChange(upd[:i], nil); err == nil {
			t.Fatalf("truncated update of %d bytes accepted", i)
		}
	}
}

func FuzzParseChange(f *testing.F) {
	rel := binary.BigEndian.AppendUint32(nil, 1)
	f.Add(append(append(append([]byte{'I'}, rel...), 'N'), tuple(tupleCol{'t', []byte("x")})...))
	f.Add(append(append(append([]byte{'D'}, rel...), 'O'), tuple(tupleCol{kind: 'n'})...))
	f.Add([]byte("U\x00\x00\x00\x01N\x00\x01u"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, _, err := parseChange(b, nil)
		if err != nil {
			return
		}
		for _, c := range append(m.old, m.new...) {
			if len(c.data) > len(b) {
				t.Fatalf("column of %d bytes from a %d-byte message", len(c.data), len(b))
			}
		}
		// Re-parsing is stable.
		m2, _, err := parseChange(b, nil)
		if err != nil || len(m2.new) != len(m.new) || len(m2.old) != len(m.old) {
			t.Fatalf("re-parse differs")
		}
	})
}

func FuzzDecodeText(f *testing.F) {
	for _, s := range []string{"{1,2}", `{"a\"b",NULL}`, `\x00ff`, "101", "13:14:15+02", "2024-01-01 00:00:00+00", "{{1},{2}}", "[1:1]={3}"} {
		f.Add(uint32(1007), s)
		f.Add(uint32(oidTimetz), s)
	}
	oids := []uint32{oidBool, oidInt8, oidFloat8, oidBytea, oidBit, oidTimestamp, oidTimestamptz, oidTimetz, oidJSON, 1007, 1009, 1001, 1020, 600}
	f.Fuzz(func(t *testing.T, oid uint32, s string) {
		ti := testTypes.resolve(oids[oid%uint32(len(oids))])
		v := decodeText(ti, int32(oid%3)-1, []byte(s), testTypes)
		b, err := connectors.Row{{Name: "v", Value: v}}.AppendJSON(nil)
		if err != nil {
			t.Fatalf("decodeText(%q) gave unencodable %#v: %v", s, v, err)
		}
		if !json.Valid(b) {
			t.Fatalf("decodeText(%q) encodes to invalid JSON %s", s, b)
		}
	})
}

// A supervisor restart builds a second Source for the same pipeline on the
// same registerer: it must share the series, not fail.
func TestMetricsReRegister(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	cfg := Config{Pipeline: "p", DSN: "postgres://x/y", Tables: []string{"a"}}
	s1, err := New(cfg, WithRegisterer(reg))
	if err != nil {
		t.Fatal(err)
	}
	s2, err := New(cfg, WithRegisterer(reg))
	if err != nil {
		t.Fatal(err)
	}
	s1.m.read.Add(2)
	s2.m.read.Add(3)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == metricRead {
			if got := mf.GetMetric()[0].GetCounter().GetValue(); got != 5 {
				t.Fatalf("records read = %v, want 5 (shared series)", got)
			}
			return
		}
	}
	t.Fatalf("%s not registered", metricRead)
}
