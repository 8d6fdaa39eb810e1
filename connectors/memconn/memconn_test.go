package memconn_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/connectors/conformance"
	"github.com/sluicehq/sluice/connectors/memconn"
)

func TestSourceConformance(t *testing.T) {
	t.Parallel()
	up := memconn.NewUpstream()
	var mu sync.Mutex
	next := 0
	conformance.RunSource(t, conformance.SourceHarness{
		New: func(*testing.T) connectors.Source { return memconn.NewSource(up, 3) },
		Emit: func(_ *testing.T, n int) []conformance.Change {
			mu.Lock()
			defer mu.Unlock()
			var out []conformance.Change
			for range n {
				id := next
				next++
				up.Append(connectors.Record{Topic: "t", Key: fmt.Appendf(nil, `{"id":%d}`, id), Value: fmt.Appendf(nil, `{"change":%d}`, id)})
				if id%4 == 0 {
					up.Heartbeat() // empty batches carry positions too
				}
				out = append(out, conformance.Change(fmt.Sprint(id)))
			}
			return out
		},
		Identify: func(r connectors.Record) (conformance.Change, bool) {
			var v struct{ Change int }
			if json.Unmarshal(r.Value, &v) != nil {
				return "", false
			}
			return conformance.Change(fmt.Sprint(v.Change)), true
		},
		Break: func(*testing.T) { up.FailNextRead(errors.New("connection reset")) },
	})
}

func TestSinkConformance(t *testing.T) {
	t.Parallel()
	st := memconn.NewStore()
	st.Reject(func(r connectors.Record) error {
		if strings.Contains(string(r.Value), `"poison"`) {
			return errors.New("mapping conflict")
		}
		return nil
	})
	const topic = "conformance.public.items"
	conformance.RunSink(t, conformance.SinkHarness{
		New:   func(*testing.T) connectors.Sink { return memconn.NewSink(st) },
		Topic: topic,
		Lookup: func(t *testing.T, id int) (int, bool) {
			v, ok := st.Get(topic, fmt.Appendf(nil, `{"id":%d}`, id))
			if !ok {
				return 0, false
			}
			env, err := connectors.DecodeEnvelope(v)
			if err != nil {
				t.Fatal(err)
			}
			var img struct{ V int }
			if err := json.Unmarshal(env.After, &img); err != nil {
				t.Fatalf("after image %s: %v", env.After, err)
			}
			return img.V, true
		},
		Poison: func(r *connectors.Record) { r.Value = []byte(`{"poison":true}`) },
		Down:   func(*testing.T) { st.SetDown(memconn.ErrDown) },
		Up:     func(*testing.T) { st.SetDown(nil) },
	})
}
