package elasticsearch

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/sluicehq/sluice/connectors"
)

// BenchmarkSinkVsBulk writes the same change events through the sink and,
// as the peer, through a plain _bulk loader (net/http, bodies built before
// the clock starts, one request in flight, same batch size), alternating
// batch by batch in the same run, each into its own index. It reports
// documents/s of both and their ratio (sink/bulk; target ≥ 0.8).
//
//	eval "$(scripts/services env)"; go test -run XXX -bench SinkVsBulk -benchtime 200x ./sinks/elasticsearch
func BenchmarkSinkVsBulk(b *testing.B) {
	u, alias := sharedES(b)
	const batchSize, distinct = 1000, 100_000
	s := openSink(b, Config{URL: u, Index: alias + "-sink", BulkMaxDocs: batchSize})
	plain := alias + "-plain"
	mustES(b, u, http.MethodPut, "/"+plain, `{}`)
	client := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}

	const nBatches = 16 // distinct batches, cycled
	batches := make([]connectors.Batch, nBatches)
	bodies := make([][]byte, nBatches)
	off := int64(0)
	for i := range batches {
		var body []byte
		for j := range batchSize {
			id := (i*batchSize + j*7) % distinct
			after := fmt.Sprintf(`{"id":%d,"sku":"SKU-%06d","title":"item number %d","price":"%d.99","qty":%d,"updated_at":"2026-11-26T12:00:00Z"}`, id, id, id, id%1000, j)
			batches[i].Records = append(batches[i].Records, connectors.Record{
				Topic: "shop.public.items", Offset: off, Key: []byte(`{"id":` + strconv.Itoa(id) + `}`), Value: envelope("u", after),
			})
			off++
			body = append(body, `{"index":{"_index":"`+plain+`","_id":"`+strconv.Itoa(id)+`"}}`+"\n"+after+"\n"...)
		}
		bodies[i] = body
	}
	bulk := func(body []byte) {
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, u+"/_bulk", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/x-ndjson")
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		rb, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || bytes.Contains(rb[:min(len(rb), 64)], []byte(`"errors":true`)) {
			b.Fatalf("bulk: %d %.300s", resp.StatusCode, rb)
		}
	}
	// Warm up both (index creation, JIT, connections).
	for i := range 3 {
		bulk(bodies[i])
		if err := s.Write(context.Background(), batches[i]); err != nil {
			b.Fatal(err)
		}
	}
	var tSink, tPlain time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		k := i % nBatches
		t0 := time.Now()
		if i%2 == 0 {
			bulk(bodies[k])
			tPlain += time.Since(t0)
			t0 = time.Now()
			if err := s.Write(context.Background(), batches[k]); err != nil {
				b.Fatal(err)
			}
			tSink += time.Since(t0)
		} else {
			if err := s.Write(context.Background(), batches[k]); err != nil {
				b.Fatal(err)
			}
			tSink += time.Since(t0)
			t0 = time.Now()
			bulk(bodies[k])
			tPlain += time.Since(t0)
		}
	}
	b.StopTimer()
	docs := float64(b.N * batchSize)
	sinkRate, plainRate := docs/tSink.Seconds(), docs/tPlain.Seconds()
	b.ReportMetric(sinkRate, "sink_docs/s")
	b.ReportMetric(plainRate, "bulk_docs/s")
	b.ReportMetric(sinkRate/plainRate, "ratio")
}

// BenchmarkPlan measures the sink's own work per record (reading envelope
// and key, building the bulk body), without Elasticsearch.
func BenchmarkPlan(b *testing.B) {
	s := &Sink{cfg: Config{Index: "a"}, aliases: map[string]*aliasState{"a": newAliasState("a", []string{"a-1"}, false)}}
	var batch connectors.Batch
	for id := range 1000 {
		after := fmt.Sprintf(`{"id":%d,"sku":"SKU-%06d","title":"item number %d","price":"%d.99","qty":%d,"updated_at":"2026-11-26T12:00:00Z"}`, id, id, id, id%1000, id)
		batch.Records = append(batch.Records, connectors.Record{Key: []byte(`{"id":` + strconv.Itoa(id) + `}`), Value: envelope("u", after)})
	}
	b.ReportAllocs()
	var body []byte
	for b.Loop() {
		failed := map[int]error{}
		ops := s.plan(batch, failed)
		body = body[:0]
		for _, o := range ops {
			body = appendAction(body, &item{op: o, index: "a-1"})
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(batch.Records)), "ns/record")
}
