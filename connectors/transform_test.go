package connectors

import (
	"encoding/json"
	"strings"
	"testing"
)

func envRec(topic, table, op, before, after string) Record {
	v := `{"before":` + before + `,"after":` + after + `,"op":"` + op + `","ts_ms":1,"source":{"connector":"postgresql","name":"shop","db":"shop","schema":"public","table":"` + table + `"},"transaction":null}`
	return Record{Topic: topic, Key: []byte(`{"id":1}`), Value: []byte(v)}
}

func TestTransforms(t *testing.T) {
	t.Parallel()
	orders := func(op, before, after string) Record {
		return envRec("shop.public.orders", "orders", op, before, after)
	}
	tests := []struct {
		name      string
		specs     []TransformSpec
		in        []Record
		wantTopic []string
		wantSub   []string // substring of each kept value ("" = tombstone)
		notSub    []string // must not appear in any kept value
	}{
		{
			name:      "no transforms pass bytes untouched",
			in:        []Record{{Topic: "t", Key: []byte("k"), Value: []byte("not json")}},
			wantTopic: []string{"t"}, wantSub: []string{"not json"},
		},
		{
			name:  "filter drops ops not listed, tombstone follows its delete",
			specs: []TransformSpec{{Type: TransformFilter, Tables: []string{"public.orders"}, Ops: []Op{OpCreate, OpUpdate}}},
			in: []Record{
				orders("c", "null", `{"id":1}`),
				orders("d", `{"id":1}`, "null"),
				{Topic: "shop.public.orders", Key: []byte(`{"id":1}`)},
				envRec("shop.public.customers", "customers", "d", `{"id":1}`, "null"),
			},
			wantTopic: []string{"shop.public.orders", "shop.public.customers"},
			wantSub:   []string{`"op":"c"`, `"table":"customers"`},
		},
		{
			name:      "drop fields from both images, order kept, other members kept",
			specs:     []TransformSpec{{Type: TransformDropFields, Table: "public.orders", Fields: []string{"pw"}}},
			in:        []Record{orders("u", `{"id":1,"pw":"a","n":2}`, `{"id":1,"pw":"b","n":3}`)},
			wantTopic: []string{"shop.public.orders"},
			wantSub:   []string{`"before":{"id":1,"n":2},"after":{"id":1,"n":3}`},
			notSub:    []string{`"pw"`},
		},
		{
			name:      "mask keeps null and masks values",
			specs:     []TransformSpec{{Type: TransformMaskFields, Table: "public.orders", Fields: []string{"card", "x"}}},
			in:        []Record{orders("c", "null", `{"id":1,"card":"4111","x":null}`)},
			wantTopic: []string{"shop.public.orders"},
			wantSub:   []string{`"after":{"id":1,"card":"****","x":null}`},
		},
		{
			name:      "rename",
			specs:     []TransformSpec{{Type: TransformRenameFields, Table: "public.orders", Rename: map[string]string{"n": "count"}}},
			in:        []Record{orders("c", "null", `{"id":1,"n":3}`)},
			wantTopic: []string{"shop.public.orders"},
			wantSub:   []string{`"after":{"id":1,"count":3}`},
		},
		{
			name:  "route moves the table and its tombstones; other tables stay",
			specs: []TransformSpec{{Type: TransformRoute, Tables: []string{"public.orders"}, Topic: "orders-all"}},
			in: []Record{
				orders("d", `{"id":1}`, "null"),
				{Topic: "shop.public.orders", Key: []byte(`{"id":1}`)},
				envRec("shop.public.customers", "customers", "c", "null", `{"id":1}`),
			},
			wantTopic: []string{"orders-all", "orders-all", "shop.public.customers"},
			wantSub:   []string{`"op":"d"`, "", `"table":"customers"`},
		},
		{
			name:      "other tables untouched by field transforms",
			specs:     []TransformSpec{{Type: TransformDropFields, Table: "public.orders", Fields: []string{"id"}}},
			in:        []Record{envRec("shop.public.customers", "customers", "c", "null", `{"id":1}`)},
			wantTopic: []string{"shop.public.customers"},
			wantSub:   []string{`"after":{"id":1}`},
		},
		{
			name:      "outbox payloads are not envelopes",
			specs:     []TransformSpec{{Type: TransformFilter, Ops: []Op{OpCreate}}},
			in:        []Record{{Topic: "outbox.event.order", Key: []byte("42"), Value: []byte(`{"orderId":42}`)}},
			wantTopic: []string{"outbox.event.order"},
			wantSub:   []string{`{"orderId":42}`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := newTransformChain(tc.specs)
			if err != nil {
				t.Fatal(err)
			}
			out, dropped := c.apply(tc.in)
			if len(out) != len(tc.wantTopic) || dropped != len(tc.in)-len(out) {
				t.Fatalf("kept %d (dropped %d), want %d", len(out), dropped, len(tc.wantTopic))
			}
			for i, r := range out {
				if r.Topic != tc.wantTopic[i] {
					t.Errorf("record %d topic %s, want %s", i, r.Topic, tc.wantTopic[i])
				}
				if tc.wantSub[i] == "" {
					if r.Value != nil {
						t.Errorf("record %d: want a tombstone, got %s", i, r.Value)
					}
					continue
				}
				if !strings.Contains(string(r.Value), tc.wantSub[i]) {
					t.Errorf("record %d: %s lacks %s", i, r.Value, tc.wantSub[i])
				}
				if !json.Valid(r.Value) && tc.specs != nil && strings.HasPrefix(string(r.Value), "{") {
					t.Errorf("record %d: invalid JSON %s", i, r.Value)
				}
				for _, ns := range tc.notSub {
					if strings.Contains(string(r.Value), ns) {
						t.Errorf("record %d: %s still has %s", i, r.Value, ns)
					}
				}
			}
		})
	}
}

func TestTransformSpecValidation(t *testing.T) {
	t.Parallel()
	bad := []TransformSpec{
		{Type: "nope"},
		{Type: TransformFilter, Ops: []Op{"x"}},
		{Type: TransformDropFields, Table: "a.b"},
		{Type: TransformMaskFields, Fields: []string{"f"}},
		{Type: TransformRenameFields, Table: "a.b"},
		{Type: TransformRoute, Tables: []string{"a.b"}},
	}
	for _, s := range bad {
		if _, err := newTransformChain([]TransformSpec{s}); err == nil {
			t.Errorf("%+v: accepted", s)
		}
	}
}

// FuzzTransforms: any value through every transform yields either the
// input untouched or valid JSON, and never panics.
func FuzzTransforms(f *testing.F) {
	f.Add([]byte(envRec("t", "orders", "u", `{"id":1,"pw":"x"}`, `{"id":1,"pw":"y"}`).Value))
	f.Add([]byte(`{"op":"c","after":[1],"source":{}}`))
	f.Add([]byte(`{"op":"c"} trailing`))
	f.Add([]byte(`{"a":1,"a":2,"op":"d","before":{"pw":1}}`))
	c, err := newTransformChain([]TransformSpec{
		{Type: TransformDropFields, Tables: []string{"public.orders", "."}, Fields: []string{"pw"}},
		{Type: TransformMaskFields, Tables: []string{"public.orders", "."}, Fields: []string{"id"}},
		{Type: TransformRenameFields, Tables: []string{"public.orders", "."}, Rename: map[string]string{"n": "m"}},
		{Type: TransformRoute, Tables: []string{"public.orders"}, Topic: "r"},
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, v []byte) {
		in := append([]byte(nil), v...)
		out, _ := c.apply([]Record{{Topic: "t", Key: []byte("k"), Value: in}})
		if len(out) != 1 {
			t.Fatalf("record dropped without a filter")
		}
		if string(out[0].Value) != string(v) && !json.Valid(out[0].Value) {
			t.Fatalf("changed into invalid JSON: %q -> %q", v, out[0].Value)
		}
	})
}
