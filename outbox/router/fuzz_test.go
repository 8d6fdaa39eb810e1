package router

import (
	"encoding/json"
	"testing"
)

// FuzzRouteMessage checks that any content either routes to a well-formed
// record or fails with ErrInvalidEvent, never panics, and that routing is a
// pure function of the content.
func FuzzRouteMessage(f *testing.F) {
	f.Add([]byte(`{"id":"e1","aggregatetype":"order","aggregateid":"42","type":"Placed","payload":{"total":10},"headers":{"trace":"t"}}`))
	f.Add([]byte(`{"id":"e1","aggregatetype":"o","aggregateid":42,"type":"t","payload":null}`))
	f.Add([]byte(`{"id":"","aggregatetype":"o","aggregateid":"k","type":"t","payload":1}`))
	f.Add([]byte(`{"headers":[1]}`))
	f.Add([]byte(`nul`))
	r, err := New(Config{Topic: "ev.{aggregatetype}.{type}"})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, content []byte) {
		rec, ok, err := r.RouteMessage(DefaultPrefix, content)
		if !ok {
			t.Fatal("own prefix not taken")
		}
		if err != nil {
			return
		}
		if checkTopic(rec.Topic) != nil {
			t.Fatalf("illegal topic %q", rec.Topic)
		}
		if len(rec.Key) == 0 || !json.Valid(rec.Value) {
			t.Fatalf("key %q value %q", rec.Key, rec.Value)
		}
		if len(rec.Headers) < 2 || rec.Headers[0].Key != "id" || rec.Headers[1].Key != "type" || len(rec.Headers[0].Value) == 0 {
			t.Fatalf("headers %+v", rec.Headers)
		}
		again, _, err := r.RouteMessage(DefaultPrefix, content)
		if err != nil || again.Topic != rec.Topic || string(again.Key) != string(rec.Key) || headersOf(again) != headersOf(rec) {
			t.Fatalf("not deterministic: %+v vs %+v (%v)", again, rec, err)
		}
	})
}

// FuzzRouteRow routes rows of arbitrary text (as the MySQL source hands
// JSON columns over) and checks the record's invariants.
func FuzzRouteRow(f *testing.F) {
	f.Add("0190c1a2-0000-7000-8000-000000000001", "order", "42", "Placed", `{"a":1}`, `{"trace":"x"}`)
	f.Add("i", "a.b", `"k"`, "t", `null`, `null`)
	f.Add("", "", "", "", "", "")
	r, err := New(Config{Topic: "ev.{aggregatetype}.{type}", Columns: Columns{Extra: []string{"x"}}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, id, at, ai, typ, payload, headers string) {
		rec, err := r.RouteRow(row("id", id, "aggregatetype", at, "aggregateid", ai, "type", typ, "payload", payload, "headers", headers, "x", at))
		if err != nil {
			return
		}
		if checkTopic(rec.Topic) != nil || string(rec.Key) != ai || string(rec.Value) != payload {
			t.Fatalf("record %+v from %q %q %q %q", rec, id, at, ai, payload)
		}
		if h, _ := rec.Header("id"); string(h) != id {
			t.Fatalf("id header %q, want %q", h, id)
		}
		if h, _ := rec.Header("x"); string(h) != at {
			t.Fatalf("extra header %q, want %q", h, at)
		}
	})
}
