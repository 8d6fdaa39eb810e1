package elasticsearch

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/connectors"
)

func TestDocumentsFollowChanges(t *testing.T) {
	t.Parallel()
	u, alias := sharedES(t)
	other := alias + "-lines"
	s := openSink(t, Config{Pipeline: "p", Name: "s", URL: u, Index: alias, Indexes: map[string]string{"shop.public.lines": other}})
	ixs := aliasTargets(t, u, alias)
	if len(ixs) != 1 || !isDated(alias, ixs[0]) {
		t.Fatalf("alias %s → %v, want one %s-<timestamp> index", alias, ixs, alias)
	}
	ctx := context.Background()
	batches := []connectors.Batch{
		records("shop.public.orders", 0,
			step{"r", `{"id":42}`, `{"id":42,"total":"9.50"}`},
			step{"c", `{"id":43}`, `{"id":43,"total":"1.00"}`},
			step{"c", `{"id":44}`, `{"id":44,"total":"2.00"}`},
			step{"c", `{"code":"a:b\\c"}`, `{"code":"a:b\\c"}`},
		),
		records("shop.public.orders", 4,
			step{"u", `{"id":42}`, `{"id":42,"total":"10.00"}`},
			step{"d", `{"id":43}`, ""},
			step{"tomb", `{"id":43}`, ""},
			step{"tomb", `{"id":44}`, ""},
			step{"d", `{"id":99}`, ""}, // never existed: 404 is fine
		),
		records("shop.public.lines", 0,
			step{"c", `{"order_id":42,"line":1}`, `{"order_id":42,"line":1,"sku":"x"}`},
			step{"c", `{"order_id":42,"line":2}`, `{"order_id":42,"line":2,"sku":"y"}`},
			step{"d", `{"order_id":42,"line":2}`, ""},
		),
	}
	for i, b := range batches {
		if err := s.Write(ctx, b); err != nil {
			t.Fatalf("Write %d: %v", i, err)
		}
	}
	want := map[string]string{"42": `{"id":42,"total":"10.00"}`, `a\:b\\c`: `{"code":"a:b\\c"}`}
	if err := equalDocs(docs(t, u, alias), want); err != nil {
		t.Fatal(err)
	}
	if err := equalDocs(docs(t, u, other), map[string]string{"42:1": `{"order_id":42,"line":1,"sku":"x"}`}); err != nil {
		t.Fatalf("%s: %v", other, err)
	}

	// Replay of the same records (offset reset) gives the same documents.
	for _, b := range batches {
		if err := s.Write(ctx, b); err != nil {
			t.Fatalf("replay: %v", err)
		}
	}
	if err := equalDocs(docs(t, u, alias), want); err != nil {
		t.Fatalf("after replay: %v", err)
	}
	// A second instance uses the same alias and index.
	s2 := openSink(t, Config{URL: u, Index: alias})
	if err := s2.Write(ctx, records("shop.public.orders", 9, step{"c", `{"id":7}`, `{"id":7}`})); err != nil {
		t.Fatal(err)
	}
	if got := aliasTargets(t, u, alias); !slices.Equal(got, ixs) {
		t.Fatalf("reopen moved the alias: %v, was %v", got, ixs)
	}
	if err := s.Check(ctx); err != nil {
		t.Fatalf("Check: %v", err)
	}
}

func TestMappingConflictRejectsOnlyThatDocument(t *testing.T) {
	t.Parallel()
	u, alias := sharedES(t)
	s := openSink(t, Config{URL: u, Index: alias, Mappings: json.RawMessage(`{"properties":{"n":{"type":"long"}}}`)})
	err := s.Write(context.Background(), records("t", 0,
		step{"c", `{"id":1}`, `{"id":1,"n":1}`},
		step{"c", `{"id":2}`, `{"id":2,"n":"not a number"}`},
		step{"c", `{"id":3}`, `{"id":3,"n":3}`},
	))
	var be *connectors.BatchError
	if !errors.As(err, &be) || len(be.Failed) != 1 || be.Failed[0].Index != 1 || !errors.Is(be.Failed[0].Err, ErrRejected) {
		t.Fatalf("Write = %v, want a BatchError for record 1 only", err)
	}
	if !strings.Contains(be.Failed[0].Err.Error(), "document_parsing_exception") && !strings.Contains(be.Failed[0].Err.Error(), "mapper_parsing_exception") {
		t.Errorf("reason = %v, want the parsing exception", be.Failed[0].Err)
	}
	want := map[string]string{"1": `{"id":1,"n":1}`, "3": `{"id":3,"n":3}`}
	if err := equalDocs(docs(t, u, alias), want); err != nil {
		t.Fatal(err)
	}
}

func TestConcreteIndexAdoptedThenReplacedByRebuild(t *testing.T) {
	t.Parallel()
	u, alias := sharedES(t)
	mustES(t, u, http.MethodPut, "/"+alias, `{}`)
	mustES(t, u, http.MethodPut, "/"+alias+"/_doc/stale?refresh=true", `{"id":"stale"}`)
	s := openSink(t, Config{URL: u, Index: alias})
	ctx := context.Background()
	b := records("t", 0, step{"c", `{"id":1}`, `{"id":1}`})
	if err := s.Write(ctx, b); err != nil {
		t.Fatal(err)
	}
	if err := s.BeginRebuild(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(ctx, b); err != nil { // the replay
		t.Fatal(err)
	}
	if err := s.FinishRebuild(ctx); err != nil {
		t.Fatal(err)
	}
	if ixs := aliasTargets(t, u, alias); len(ixs) != 1 || !isDated(alias, ixs[0]) {
		t.Fatalf("alias → %v, want one dated index", ixs)
	}
	if err := equalDocs(docs(t, u, alias), map[string]string{"1": `{"id":1}`}); err != nil {
		t.Fatal(err)
	}
}

func TestReplayedRecordsNeverRegressTheLiveIndex(t *testing.T) {
	t.Parallel()
	u, alias := sharedES(t)
	s := openSink(t, Config{URL: u, Index: alias})
	ctx := context.Background()
	log := records("t", 0, step{"c", `{"id":1}`, `{"id":1,"v":1}`})
	log.Records = append(log.Records, records("t", 1, step{"u", `{"id":1}`, `{"id":1,"v":2}`}).Records...)
	if err := s.Write(ctx, log); err != nil {
		t.Fatal(err)
	}
	old := aliasTargets(t, u, alias)
	if err := s.BeginRebuild(ctx); err != nil {
		t.Fatal(err)
	}
	// The runtime replays offset 0 alone first: the alias must still show v 2.
	if err := s.Write(ctx, connectors.Batch{Records: log.Records[:1]}); err != nil {
		t.Fatal(err)
	}
	if err := equalDocs(docs(t, u, alias), map[string]string{"1": `{"id":1,"v":2}`}); err != nil {
		t.Fatalf("during rebuild: %v", err)
	}
	// A live change (past offset 1) reaches the alias before the swap.
	if err := s.Write(ctx, connectors.Batch{Records: append(log.Records[1:2:2], records("t", 2, step{"c", `{"id":2}`, `{"id":2}`}).Records...)}); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"1": `{"id":1,"v":2}`, "2": `{"id":2}`}
	if err := equalDocs(docs(t, u, alias), want); err != nil {
		t.Fatalf("live change during rebuild: %v", err)
	}
	if p := s.RebuildProgress(); !p.Running || p.DocsWritten != 3 {
		t.Fatalf("progress = %+v, want running, 3 docs written", p)
	}
	if err := s.FinishRebuild(ctx); err != nil {
		t.Fatal(err)
	}
	now := aliasTargets(t, u, alias)
	if len(now) != 1 || slices.Equal(now, old) {
		t.Fatalf("alias → %v after rebuild, was %v", now, old)
	}
	if _, err := esDo(u, http.MethodHead, "/"+old[0], ""); err == nil {
		t.Errorf("old index %s not deleted (keep_indexes 0)", old[0])
	}
	if err := equalDocs(docs(t, u, alias), want); err != nil {
		t.Fatal(err)
	}
	if err := s.FinishRebuild(ctx); !errors.Is(err, ErrNotRebuilding) {
		t.Fatalf("second FinishRebuild = %v, want ErrNotRebuilding", err)
	}
}

func TestConcurrentOpensAgreeOnOneIndex(t *testing.T) {
	t.Parallel()
	u, alias := sharedES(t)
	const n = 4
	sinks := make([]*Sink, n)
	errs := make(chan error, n)
	for i := range sinks {
		s, err := New(Config{URL: u, Index: alias})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close(context.Background()) })
		sinks[i] = s
	}
	for _, s := range sinks {
		go func() { errs <- s.Open(context.Background()) }()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	ixs := aliasTargets(t, u, alias)
	if len(ixs) != 1 {
		t.Fatalf("alias → %v, want one index", ixs)
	}
	want := map[string]string{}
	for i, s := range sinks {
		id := strconv.Itoa(i)
		if err := s.Write(context.Background(), records("t", 0, step{"c", `{"id":` + id + `}`, `{"id":` + id + `}`})); err != nil {
			t.Fatal(err)
		}
		want[id] = `{"id":` + id + `}`
	}
	if err := equalDocs(docs(t, u, alias), want); err != nil {
		t.Fatal(err)
	}
}

func TestIndexTemplatePerTable(t *testing.T) {
	t.Parallel()
	u, alias := sharedES(t)
	ctx := context.Background()
	s := openSink(t, Config{URL: u, IndexTemplate: alias + "-{table}", Topics: []string{"shop.public.Orders"}})
	if ixs := aliasTargets(t, u, alias+"-orders"); len(ixs) != 1 {
		t.Fatalf("Open did not create the alias of a listed topic: %v", ixs)
	}
	if err := s.Write(ctx, records("shop.public.Orders", 0, step{"c", `{"id":1}`, `{"id":1}`})); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(ctx, records("shop.public.lines", 0, step{"c", `{"id":1}`, `{"id":1,"line":true}`})); err != nil {
		t.Fatal(err)
	}
	if err := equalDocs(docs(t, u, alias+"-lines"), map[string]string{"1": `{"id":1,"line":true}`}); err != nil {
		t.Fatal(err)
	}
	oldOrders, oldLines := aliasTargets(t, u, alias+"-orders"), aliasTargets(t, u, alias+"-lines")
	if err := s.BeginRebuild(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(ctx, records("shop.public.Orders", 0, step{"c", `{"id":1}`, `{"id":1}`})); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(ctx, records("shop.public.lines", 0, step{"c", `{"id":1}`, `{"id":1,"line":true}`})); err != nil {
		t.Fatal(err)
	}
	if err := s.FinishRebuild(ctx); err != nil {
		t.Fatal(err)
	}
	if got := aliasTargets(t, u, alias+"-orders"); slices.Equal(got, oldOrders) || len(got) != 1 {
		t.Errorf("orders alias → %v, was %v", got, oldOrders)
	}
	if got := aliasTargets(t, u, alias+"-lines"); slices.Equal(got, oldLines) || len(got) != 1 {
		t.Errorf("lines alias → %v, was %v", got, oldLines)
	}
	if err := equalDocs(docs(t, u, alias+"-lines"), map[string]string{"1": `{"id":1,"line":true}`}); err != nil {
		t.Fatal(err)
	}
}
