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
