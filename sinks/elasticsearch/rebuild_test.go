package elasticsearch

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/sluicehq/sluice/connectors"
)

// logModel is a partitioned changelog and the documents it should give.
type logModel struct {
	topic string
	next  map[int32]int64
	log   map[int32][]connectors.Record
	want  map[string]string
}

func newLogModel() *logModel {
	return &logModel{topic: "shop.public.items", next: map[int32]int64{}, log: map[int32][]connectors.Record{}, want: map[string]string{}}
}

// put appends an upsert (after != "") or a delete + tombstone of id.
func (m *logModel) put(p int32, id int, after string) []connectors.Record {
	key := []byte(`{"id":` + strconv.Itoa(id) + `}`)
	var rs []connectors.Record
	add := func(v []byte) {
		r := connectors.Record{Topic: m.topic, Partition: p, Offset: m.next[p], Key: key, Value: v}
		m.next[p]++
		m.log[p] = append(m.log[p], r)
		rs = append(rs, r)
	}
	if after == "" {
		add(envelope("d", ""))
		add(nil)
		delete(m.want, strconv.Itoa(id))
	} else {
		add(envelope("u", after))
		m.want[strconv.Itoa(id)] = after
	}
	return rs
}

func doc(id, v int) string { return `{"id":` + strconv.Itoa(id) + `,"v":` + strconv.Itoa(v) + `}` }

func writeAll(t *testing.T, s *Sink, rs []connectors.Record, size int) {
	t.Helper()
	for len(rs) > 0 {
		n := min(size, len(rs))
		if err := s.Write(context.Background(), connectors.Batch{Records: rs[:n]}); err != nil {
			t.Fatalf("Write: %v", err)
		}
		rs = rs[n:]
	}
}

func countAlias(base, alias string) (int, error) {
	b, err := esDo(base, http.MethodGet, "/"+alias+"/_count", "")
	if err != nil {
		return 0, err
	}
	var r struct {
		Count int `json:"count"`
	}
	err = json.Unmarshal(b, &r)
	return r.Count, err
}

// TestRebuildWhileWriting replays the log into a new index while live
// changes keep coming, with a searcher counting through the alias the whole
// time: the count never drops, and the alias ends on a new index equal to
// the model.
func TestRebuildWhileWriting(t *testing.T) {
	t.Parallel()
	u, alias := sharedES(t)
	s := openSink(t, Config{URL: u, Index: alias, KeepIndexes: 1})
	m := newLogModel()
	var first []connectors.Record
	for i := range 300 {
		id := i % 200
		switch {
		case i >= 200 && id%7 == 0:
			first = append(first, m.put(0, id, "")...)
		default:
			first = append(first, m.put(0, id, doc(id, i))...)
		}
	}
	for id := 1000; id < 1050; id++ {
		first = append(first, m.put(1, id, doc(id, 0))...)
	}
	writeAll(t, s, first, 64)
	old := aliasTargets(t, u, alias)
	mustES(t, u, http.MethodPost, "/"+alias+"/_refresh", "")
	before, err := countAlias(u, alias)
	if err != nil || before != len(m.want) {
		t.Fatalf("count before rebuild = %d, %v; want %d", before, err, len(m.want))
	}

	// The searcher: counts through the alias until stopped.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var counts []int
	var searchErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			n, err := countAlias(u, alias)
			if err != nil {
				searchErr = err
				return
			}
			counts = append(counts, n)
		}
	}()

	if err := s.BeginRebuild(context.Background()); err != nil {
		t.Fatal(err)
	}
	// As the runtime does: partition 1 replays, then partition 0 replays
	// in batches, each followed by a batch of live changes on partition 1.
	writeAll(t, s, slices.Clone(m.log[1]), 64)
	replay := slices.Clone(m.log[0])
	live := 2000
	for len(replay) > 0 {
		n := min(50, len(replay))
		writeAll(t, s, replay[:n], n)
		replay = replay[n:]
		var rs []connectors.Record
		for range 5 {
			rs = append(rs, m.put(1, live, doc(live, 1))...)
			live++
		}
		rs = append(rs, m.put(1, 1000+live%50, doc(1000+live%50, live))...) // an update
		writeAll(t, s, rs, len(rs))
	}
	if err := s.FinishRebuild(context.Background()); err != nil {
		t.Fatal(err)
	}
	after, err := countAlias(u, alias)
	close(stop)
	wg.Wait()
	if searchErr != nil {
		t.Fatalf("searcher: %v", searchErr)
	}
	if err != nil || after != len(m.want) {
		t.Fatalf("count right after the swap = %d, %v; want %d", after, err, len(m.want))
	}
	for i, n := range counts {
		if n < before || (i > 0 && n < counts[i-1]) {
			t.Fatalf("searcher saw %d documents after %v (before the rebuild: %d)", n, counts[max(0, i-3):i], before)
		}
	}
	now := aliasTargets(t, u, alias)
	if len(now) != 1 || slices.Equal(now, old) || !isDated(alias, now[0]) {
		t.Fatalf("alias → %v, was %v", now, old)
	}
	if _, err := esDo(u, http.MethodHead, "/"+old[0], ""); err != nil {
		t.Errorf("old index %s deleted despite keep_indexes 1: %v", old[0], err)
	}
	if err := equalDocs(docs(t, u, alias), m.want); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d searches during the rebuild; %d documents", len(counts), len(m.want))

	// A second rebuild keeps only the newest old index.
	if err := s.BeginRebuild(context.Background()); err != nil {
		t.Fatal(err)
	}
	writeAll(t, s, slices.Clone(m.log[0]), 100)
	writeAll(t, s, slices.Clone(m.log[1]), 100)
	if err := s.FinishRebuild(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := esDo(u, http.MethodHead, "/"+old[0], ""); err == nil {
		t.Errorf("oldest index %s kept beyond keep_indexes 1", old[0])
	}
	if _, err := esDo(u, http.MethodHead, "/"+now[0], ""); err != nil {
		t.Errorf("previous index %s deleted despite keep_indexes 1", now[0])
	}
	if err := equalDocs(docs(t, u, alias), m.want); err != nil {
		t.Fatal(err)
	}
}
