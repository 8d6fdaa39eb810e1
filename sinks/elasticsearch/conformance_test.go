package elasticsearch

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/connectors/conformance"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	u, alias := sharedES(t)
	eu, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	p := newCutProxy(t, eu.Host)
	conformance.RunSink(t, conformance.SinkHarness{
		New: func(t *testing.T) connectors.Sink {
			s, err := New(Config{URL: "http://" + p.ln.Addr().String(), Index: alias, RetryTimeout: 300 * time.Millisecond,
				Mappings: json.RawMessage(`{"properties":{"v":{"type":"long"}}}`)})
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		Lookup: func(t *testing.T, id int) (int, bool) {
			b, err := esDo(u, http.MethodGet, "/"+alias+"/_doc/"+strconv.Itoa(id), "")
			if err != nil {
				if strings.Contains(err.Error(), ": 404 ") {
					return 0, false
				}
				t.Fatal(err)
			}
			var d struct {
				Found  bool `json:"found"`
				Source struct {
					V int `json:"v"`
				} `json:"_source"`
			}
			if err := json.Unmarshal(b, &d); err != nil {
				t.Fatal(err)
			}
			return d.Source.V, d.Found
		},
		Poison: func(r *connectors.Record) {
			env, err := connectors.DecodeEnvelope(r.Value)
			if err != nil {
				panic(err)
			}
			env.After = json.RawMessage(`{"v":"not a number"}`)
			if r.Value, err = env.Marshal(); err != nil {
				panic(err)
			}
		},
		Down: func(*testing.T) { p.setCut(true) },
		Up:   func(*testing.T) { p.setCut(false) },
	})
}
