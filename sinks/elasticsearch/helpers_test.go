package elasticsearch

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/itest"
)

// uniq returns an index name unique to this test run.
func uniq(t testing.TB) string {
	t.Helper()
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "sluice-test-" + hex.EncodeToString(b)
}

// sharedES returns the test Elasticsearch and an alias name whose indexes
// are deleted at cleanup.
func sharedES(t testing.TB) (string, string) {
	t.Helper()
	u := itest.Need(t, itest.Elasticsearch)
	alias := uniq(t)
	t.Cleanup(func() {
		_, _ = esDo(u, http.MethodDelete, "/"+alias+"*?expand_wildcards=all", "")
	})
	return u, alias
}

// esDo sends one request to Elasticsearch with plain net/http.
func esDo(base, method, path, body string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode >= 300 {
		err = fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	return b, err
}

func mustES(t testing.TB, base, method, path, body string) []byte {
	t.Helper()
	b, err := esDo(base, method, path, body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// docs refreshes alias and returns its documents: _id → _source.
func docs(t testing.TB, base, alias string) map[string]string {
	t.Helper()
	mustES(t, base, http.MethodPost, "/"+alias+"/_refresh", "")
	b := mustES(t, base, http.MethodGet, "/"+alias+"/_search?size=10000", `{"query":{"match_all":{}}}`)
	var r struct {
		Hits struct {
			Hits []struct {
				ID     string          `json:"_id"`
				Source json.RawMessage `json:"_source"`
			} `json:"hits"`
		} `json:"hits"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, h := range r.Hits.Hits {
		out[h.ID] = string(h.Source)
	}
	return out
}

// aliasTargets returns the indexes behind alias, sorted.
func aliasTargets(t testing.TB, base, alias string) []string {
	t.Helper()
	b := mustES(t, base, http.MethodGet, "/_alias/"+alias, "")
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// envelope builds a change event value.
func envelope(op, after string) []byte {
	if after == "" {
		after = "null"
	}
	before := "null"
	if op == "d" {
		before = `{"id":0}`
	}
	return []byte(`{"before":` + before + `,"after":` + after + `,"op":"` + op +
		`","ts_ms":1,"source":{"connector":"postgresql","name":"t","ts_ms":1,"snapshot":"false","db":"d","schema":"public","table":"x"}}`)
}

// recs builds records on one partition from compact steps:
// "c key after", "u key after", "d key", "t key" (tombstone).
type step struct {
	op, key, after string
}

func records(topic string, first int64, steps ...step) connectors.Batch {
	var b connectors.Batch
	for i, s := range steps {
		r := connectors.Record{Topic: topic, Partition: 0, Offset: first + int64(i), Key: []byte(s.key)}
		switch s.op {
		case "tomb":
		case "d":
			r.Value = envelope("d", "")
		default:
			r.Value = envelope(s.op, s.after)
		}
		b.Records = append(b.Records, r)
	}
	return b
}

// openSink builds and opens a sink, closed at cleanup.
func openSink(t testing.TB, cfg Config, opts ...Option) *Sink {
	t.Helper()
	s, err := New(cfg, opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := s.Open(context.Background()); err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	return s
}

func equalDocs(got, want map[string]string) error {
	var diffs []string
	for id, w := range want {
		if g, ok := got[id]; !ok {
			diffs = append(diffs, fmt.Sprintf("missing %s", id))
		} else if !bytes.Equal([]byte(g), []byte(w)) {
			diffs = append(diffs, fmt.Sprintf("%s = %s, want %s", id, g, w))
		}
	}
	for id := range got {
		if _, ok := want[id]; !ok {
			diffs = append(diffs, fmt.Sprintf("extra %s", id))
		}
	}
	if len(diffs) > 0 {
		sort.Strings(diffs)
		if len(diffs) > 10 {
			diffs = append(diffs[:10], "...")
		}
		return fmt.Errorf("documents differ: %s", strings.Join(diffs, "; "))
	}
	return nil
}
