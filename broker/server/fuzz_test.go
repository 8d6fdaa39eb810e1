package server

import (
	"context"
	"testing"

	"github.com/sluicehq/sluice/broker/kafkaproto"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// FuzzHandle feeds arbitrary frames through the request entry point the
// connection uses (DecodeRequest, then the handler) against a broker with a
// topic holding data. Invariants: no panic; every decoded request gets a
// response of its own key and version (acks=0 produce excepted); the
// response encodes and decodes at that version.
func FuzzHandle(f *testing.F) {
	for _, r := range kafkaproto.Advertised() {
		for _, v := range []int16{r.Min, r.Max} {
			req := kmsg.RequestForKey(int16(r.Key))
			req.SetVersion(v)
			f.Add(kmsg.NewRequestFormatter().AppendRequest(nil, req, 1)[4:])
		}
	}
	fetch := fetchReq("t", [16]byte{}, 1<<20, 1, 0, fetchPart{0, 0, 1 << 20}, fetchPart{1, -5, 0})
	fetch.SetVersion(11)
	f.Add(kmsg.NewRequestFormatter().AppendRequest(nil, fetch, 1)[4:])
	prod := produceReq("t", 0, -1, makeBatch(batchOpts{pid: 3, seq: 0}))
	prod.SetVersion(9)
	f.Add(kmsg.NewRequestFormatter().AppendRequest(nil, prod, 1)[4:])

	s, err := New(Config{DataDir: f.TempDir()}, withLogOpener(newMemStore().open))
	if err != nil {
		f.Fatal(err)
	}
	if _, err := s.createTopic("t", 2, nil, false); err != nil {
		f.Fatal(err)
	}
	p := s.partitionOf(s.lookup("t"), 0)
	if _, err := s.produceTo(context.Background(), p, s.lookup("t").cfg, -1, makeBatch(batchOpts{}), false); err != nil {
		f.Fatal(err)
	}
	// Long polls return at once: the fuzzer must never wait.
	s.stopOnce.Do(func() { close(s.stopping) })
	rc := &reqContext{log: s.log}

	f.Fuzz(func(t *testing.T, frame []byte) {
		req, err := kafkaproto.DecodeRequest(frame)
		if err != nil {
			return
		}
		var resp kmsg.Response
		if pr, ok := req.Body.(*kmsg.ProduceRequest); ok {
			resp = s.handleProduce(context.Background(), rc, pr)
			if pr.Acks == 0 {
				if resp != nil {
					t.Fatal("acks=0 answered")
				}
				return
			}
		} else if resp, err = s.handle(context.Background(), rc, req.Body); err != nil {
			t.Fatalf("handler error: %v", err)
		}
		if resp == nil || resp.Key() != req.Body.Key() || resp.GetVersion() != req.Body.GetVersion() {
			t.Fatalf("response %T for %s v%d", resp, kmsg.NameForKey(req.Body.Key()), req.Body.GetVersion())
		}
		back := req.Body.ResponseKind()
		back.SetVersion(resp.GetVersion())
		if err := back.ReadFrom(resp.AppendTo(nil)); err != nil {
			t.Fatalf("response does not decode: %v", err)
		}
	})
}

// FuzzWholeBatches: what a follower keeps of a fetch response's record
// set is a prefix made of whole batches. Invariants: no panic; the result
// is a prefix; it splits into batches that cover it exactly.
func FuzzWholeBatches(f *testing.F) {
	one := makeBatch(batchOpts{})
	two := append(append([]byte(nil), one...), makeBatch(batchOpts{keys: [][]byte{[]byte("a"), []byte("b")}})...)
	f.Add(one)
	f.Add(two)
	f.Add(two[:len(two)-3])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		got := wholeBatches(b)
		if len(got) > len(b) || string(got) != string(b[:len(got)]) {
			t.Fatalf("not a prefix: %d of %d bytes", len(got), len(b))
		}
		n := 0
		for n < len(got) {
			h, err := kafkaproto.ParseBatchHeader(got[n:])
			if err != nil || h.Size() <= 0 || n+h.Size() > len(got) {
				t.Fatalf("batch at %d does not fit: %v", n, err)
			}
			n += h.Size()
		}
	})
}
