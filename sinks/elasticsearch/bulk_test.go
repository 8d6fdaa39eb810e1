package elasticsearch

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/connectors"
)

// fakeES answers what Open needs (the alias exists) and hands every bulk
// request to bulk, recording the bodies.
type fakeES struct {
	mu     sync.Mutex
	bodies []string
	bulk   func(n int, body string) (int, string) // n counts bulk requests from 1
}

func (f *fakeES) serve(t *testing.T) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Elastic-Product", "Elasticsearch")
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.URL.Path == "/_alias/a":
			_, _ = io.WriteString(w, `{"a-20260101000000000":{"aliases":{"a":{}}}}`)
		case r.URL.Path == "/_bulk":
			b, _ := io.ReadAll(r.Body)
			f.mu.Lock()
			f.bodies = append(f.bodies, string(b))
			n := len(f.bodies)
			f.mu.Unlock()
			st, resp := f.bulk(n, string(b))
			w.WriteHeader(st)
			_, _ = io.WriteString(w, resp)
		default:
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, `{}`)
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func (f *fakeES) requests() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.bodies...)
}

func fakeSink(t *testing.T, f *fakeES, retry time.Duration) *Sink {
	t.Helper()
	return openSink(t, Config{URL: f.serve(t), Index: "a", RetryTimeout: retry})
}

func threeDocs() connectors.Batch {
	return records("t", 0,
		step{"c", `{"id":1}`, `{"id":1,"n":"x"}`},
		step{"c", `{"id":2}`, `{"id":2,"n":{"bad":1}}`},
		step{"d", `{"id":3}`, ""},
	)
}

func TestBulkPerItemRejection(t *testing.T) {
	t.Parallel()
	f := &fakeES{bulk: func(int, string) (int, string) {
		return 200, `{"errors":true,"items":[{"index":{"status":201}},` +
			`{"index":{"status":400,"error":{"type":"mapper_parsing_exception","reason":"failed to parse field [n]","caused_by":{"type":"illegal_state_exception","reason":"Can't get text on a START_OBJECT"}}}},` +
			`{"delete":{"status":404}}]}`
	}}
	s := fakeSink(t, f, time.Second)
	err := s.Write(context.Background(), threeDocs())
	var be *connectors.BatchError
	if !errors.As(err, &be) {
		t.Fatalf("Write = %v, want *BatchError", err)
	}
	if len(be.Failed) != 1 || be.Failed[0].Index != 1 || !errors.Is(be.Failed[0].Err, ErrRejected) ||
		!strings.Contains(be.Failed[0].Err.Error(), "mapper_parsing_exception") {
		t.Fatalf("Failed = %+v, want record 1 with mapper_parsing_exception", be.Failed)
	}
	if n := len(f.requests()); n != 1 {
		t.Fatalf("%d bulk requests, want 1 (a rejection is not retried)", n)
	}
}

func TestBulkRetries429(t *testing.T) {
	t.Parallel()
	f := &fakeES{bulk: func(n int, body string) (int, string) {
		switch n {
		case 1:
			return 429, `{"error":{"type":"es_rejected_execution_exception"},"status":429}`
		case 2:
			return 200, `{"errors":true,"items":[{"index":{"status":201}},{"index":{"status":429,"error":{"type":"es_rejected_execution_exception","reason":"queue full"}}},{"delete":{"status":200}}]}`
		default:
			return 200, `{"errors":false,"items":[{"index":{"status":200}}]}`
		}
	}}
	s := fakeSink(t, f, 30*time.Second)
	if err := s.Write(context.Background(), threeDocs()); err != nil {
		t.Fatalf("Write = %v", err)
	}
	reqs := f.requests()
	if len(reqs) != 3 {
		t.Fatalf("%d bulk requests, want 3", len(reqs))
	}
	if reqs[0] != reqs[1] {
		t.Errorf("a request refused with 429 was not resent as it was")
	}
	want := `{"index":{"_index":"a","_id":"2"}}` + "\n" + `{"id":2,"n":{"bad":1}}` + "\n"
	if reqs[2] != want {
		t.Errorf("third request = %q, want only the item that got 429: %q", reqs[2], want)
	}
}

func TestBulkUnavailableAfterRetryTimeout(t *testing.T) {
	t.Parallel()
	f := &fakeES{bulk: func(int, string) (int, string) { return 503, `{"error":"unavailable"}` }}
	s := fakeSink(t, f, 300*time.Millisecond)
	err := s.Write(context.Background(), threeDocs())
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Write = %v, want ErrUnavailable", err)
	}
	var be *connectors.BatchError
	if errors.As(err, &be) {
		t.Fatalf("a transient failure must not be a BatchError")
	}
}

func TestBulkRequestRefused(t *testing.T) {
	t.Parallel()
	f := &fakeES{bulk: func(int, string) (int, string) { return 401, `{"error":"auth"}` }}
	s := fakeSink(t, f, time.Minute)
	if err := s.Write(context.Background(), threeDocs()); !errors.Is(err, ErrRequest) {
		t.Fatalf("Write = %v, want ErrRequest", err)
	}
}

func TestBulkBody(t *testing.T) {
	t.Parallel()
	const ix = `{"index":{"_index":"a","_id":`
	const del = `{"delete":{"_index":"a","_id":`
	tests := []struct {
		name     string
		cfg      func(*Config)
		batch    connectors.Batch
		want     string
		rejected []int
	}{
		{
			name: "last operation per document wins, in first-seen order",
			batch: records("t", 0,
				step{"c", `{"id":1}`, `{"id":1,"v":1}`},
				step{"c", `{"id":2}`, `{"id":2}`},
				step{"u", `{"id":1}`, `{"id":1,"v":2}`},
				step{"d", `{"id":2}`, ""},
			),
			want: ix + `"1"}}` + "\n" + `{"id":1,"v":2}` + "\n" + del + `"2"}}` + "\n",
		},
		{
			name:  "composite key escaped, tombstone deletes",
			batch: records("t", 0, step{"r", `{"a":"x:y","b":7}`, `{"a":"x:y","b":7}`}, step{"tomb", `{"id":"q\""}`, ""}),
			want:  ix + `"x\\:y:7"}}` + "\n" + `{"a":"x:y","b":7}` + "\n" + del + `"q\""}}` + "\n",
		},
		{
			name:  "fields and rename",
			cfg:   func(c *Config) { c.Fields = []string{"id", "name"}; c.Rename = map[string]string{"name": "title"} },
			batch: records("t", 0, step{"c", `{"id":1}`, `{"id":1,"secret":"s","name":"n"}`}),
			want:  ix + `"1"}}` + "\n" + `{"id":1,"title":"n"}` + "\n",
		},
		{
			name:  "multi-line image compacted",
			batch: records("t", 0, step{"c", `{"id":1}`, "{\"id\":1,\n \"n\":2}"}),
			want:  ix + `"1"}}` + "\n" + `{"id":1,"n":2}` + "\n",
		},
		{
			name: "bad records rejected, truncate ignored",
			batch: func() connectors.Batch {
				b := records("t", 0, step{"c", `[1]`, `{}`}, step{"c", `{"id":1}`, `{"id":1}`}, step{"c", `{"id":2}`, ""}, step{"t", `{"id":3}`, ""})
				b.Records = append(b.Records, connectors.Record{Topic: "t", Offset: 9, Key: []byte(`{"id":4}`), Value: []byte(`nope`)})
				return b
			}(),
			want:     ix + `"1"}}` + "\n" + `{"id":1}` + "\n",
			rejected: []int{0, 2, 4},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeES{bulk: func(int, string) (int, string) { return 200, `{"errors":false}` }}
			cfg := Config{URL: f.serve(t), Index: "a"}
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			s := openSink(t, cfg)
			err := s.Write(context.Background(), tc.batch)
			var got []int
			var be *connectors.BatchError
			if errors.As(err, &be) {
				for _, fr := range be.Failed {
					got = append(got, fr.Index)
					if !errors.Is(fr.Err, ErrRecord) {
						t.Errorf("record %d: %v, want ErrRecord", fr.Index, fr.Err)
					}
				}
			} else if err != nil {
				t.Fatalf("Write = %v", err)
			}
			if !slices.Equal(got, tc.rejected) {
				t.Errorf("rejected %v, want %v", got, tc.rejected)
			}
			reqs := f.requests()
			if len(reqs) != 1 || reqs[0] != tc.want {
				t.Errorf("bulk bodies = %q, want [%q]", reqs, tc.want)
			}
		})
	}
}

func TestBulkSplitsRequests(t *testing.T) {
	t.Parallel()
	f := &fakeES{bulk: func(int, string) (int, string) { return 200, `{"errors":false}` }}
	s := openSink(t, Config{URL: f.serve(t), Index: "a", BulkMaxDocs: 2})
	var steps []step
	for i := range 5 {
		id := itoa(i)
		steps = append(steps, step{"c", `{"id":` + id + `}`, `{"id":` + id + `}`})
	}
	if err := s.Write(context.Background(), records("t", 0, steps...)); err != nil {
		t.Fatal(err)
	}
	reqs := f.requests()
	if len(reqs) != 3 || strings.Count(reqs[2], "\n") != 2 {
		t.Fatalf("requests = %q, want 2+2+1 documents", reqs)
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  Config
		want string // substring of the error; "" = valid
	}{
		{"ok", Config{URL: "http://h:9200", Index: "orders"}, ""},
		{"no url", Config{Index: "orders"}, "url: required"},
		{"bad url", Config{URL: "ftp://h", Index: "orders"}, "want http(s)://host:port"},
		{"no index", Config{URL: "http://h:9200"}, "index: required"},
		{"upper", Config{URL: "http://h:9200", Index: "Orders"}, "lowercase"},
		{"bad char", Config{URL: "http://h:9200", Index: "a,b"}, "holds one of"},
		{"both auth", Config{URL: "http://h:9200", Index: "o", Username: "u", APIKey: "k"}, "not both"},
		{"bad mappings", Config{URL: "http://h:9200", Index: "o", Mappings: []byte(`[1]`)}, "mappings: not a JSON object"},
		{"missing file", Config{URL: "http://h:9200", Index: "o", SettingsFile: "/nonexistent/x"}, "settings_file"},
		{"template", Config{URL: "http://h:9200", IndexTemplate: "shop_{table}"}, ""},
		{"template without placeholder", Config{URL: "http://h:9200", IndexTemplate: "shop"}, "index_template"},
		{"per-topic index", Config{URL: "http://h:9200", Index: "o", Indexes: map[string]string{"t": "_x"}}, "indexes.t"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := New(tc.cfg)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("New = %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrConfig)):
				t.Fatalf("New = %v, want ErrConfig with %q", err, tc.want)
			}
		})
	}
	s := Config{URL: "http://u:pw@h:9200", Password: "pw", APIKey: "k", Index: "o"}.String()
	if strings.Contains(s, "pw") || strings.Contains(s, `"k"`) {
		t.Errorf("String leaks a secret: %s", s)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// FuzzResults feeds arbitrary bulk responses to the response reader: it
// never panics, and every item is either fine, retried or rejected, never
// more than once.
func FuzzResults(f *testing.F) {
	f.Add([]byte(`{"errors":false,"items":[{"index":{"status":201}}]}`))
	f.Add([]byte(`{"errors":true,"items":[{"index":{"status":201}},{"delete":{"status":404}},{"index":{"status":400,"error":{"type":"x","reason":"y"}}}]}`))
	f.Add([]byte(`{"errors":true,"items":[{"index":{"status":429}},{"index":{"status":503,"error":"s"}},{"index":{"status":404,"error":{"type":"index_not_found_exception"}}}]}`))
	f.Add([]byte(`{"errors":true}`))
	f.Fuzz(func(t *testing.T, resp []byte) {
		s := &Sink{}
		a := newAliasState("a", nil, false)
		items := make([]item, 3)
		for i := range items {
			items[i] = item{op: &op{rec: i, alias: a, id: itoa(i), source: []byte("{}")}, index: "a-1"}
		}
		failed := map[int]error{}
		retry, err := s.results(resp, items, failed)
		if err != nil {
			if len(retry) > 0 || len(failed) > 0 {
				t.Fatalf("error %v with results", err)
			}
			return
		}
		seen := map[int]bool{}
		for _, it := range retry {
			if seen[it.op.rec] || failed[it.op.rec] != nil {
				t.Fatalf("item %d both retried and rejected, or twice", it.op.rec)
			}
			seen[it.op.rec] = true
		}
	})
}

func TestClassify(t *testing.T) {
	t.Parallel()
	tests := []struct {
		action, item string
		want         itemClass
	}{
		{"index", `{"status":201}`, itemOK},
		{"delete", `{"status":404}`, itemOK},
		{"index", `{"status":404,"error":{"type":"index_not_found_exception"}}`, itemRetry},
		{"index", `{"status":429,"error":{"type":"es_rejected_execution_exception"}}`, itemRetry},
		{"index", `{"status":503,"error":{"type":"unavailable_shards_exception"}}`, itemRetry},
		{"index", `{"status":403,"error":{"type":"cluster_block_exception"}}`, itemRetry},
		{"index", `{"status":400,"error":{"type":"illegal_argument_exception","reason":"no write index is defined for alias [a]"}}`, itemRetry},
		{"index", `{"status":400,"error":{"type":"illegal_argument_exception","reason":"id is too long"}}`, itemRejected},
		{"index", `{"status":400,"error":{"type":"mapper_parsing_exception"}}`, itemRejected},
		{"delete", `{"status":409,"error":{"type":"version_conflict_engine_exception"}}`, itemRejected},
	}
	for _, tc := range tests {
		t.Run(tc.action+" "+tc.item, func(t *testing.T) {
			t.Parallel()
			var r bulkItemResponse
			if err := json.Unmarshal([]byte(tc.item), &r); err != nil {
				t.Fatal(err)
			}
			if got := classify(tc.action, r); got != tc.want {
				t.Fatalf("classify = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestBulkTooLargeIsSplit(t *testing.T) {
	t.Parallel()
	f := &fakeES{bulk: func(_ int, body string) (int, string) {
		if len(body) > 200 {
			return 413, `{"error":"too large"}`
		}
		return 200, `{"errors":false}`
	}}
	s := openSink(t, Config{URL: f.serve(t), Index: "a"})
	big := `{"id":9,"pad":"` + strings.Repeat("x", 300) + `"}`
	err := s.Write(context.Background(), records("t", 0,
		step{"c", `{"id":1}`, `{"id":1}`}, step{"c", `{"id":2}`, `{"id":2}`},
		step{"c", `{"id":9}`, big}, step{"c", `{"id":3}`, `{"id":3}`}))
	var be *connectors.BatchError
	if !errors.As(err, &be) || len(be.Failed) != 1 || be.Failed[0].Index != 2 {
		t.Fatalf("Write = %v, want only the oversized record rejected", err)
	}
	var sent int
	for _, b := range f.requests() {
		if len(b) <= 200 {
			sent += strings.Count(b, `{"index"`)
		}
	}
	if sent != 3 {
		t.Fatalf("%d documents accepted, want 3", sent)
	}
}
