package cluster

import (
	"bytes"
	"encoding/json"
	"io"
	"reflect"
	"testing"

	"github.com/hashicorp/raft"
)

// memSink is a raft.SnapshotSink in memory.
type memSink struct {
	bytes.Buffer
	closed, cancelled bool
}

func (s *memSink) ID() string    { return "mem" }
func (s *memSink) Close() error  { s.closed = true; return nil }
func (s *memSink) Cancel() error { s.cancelled = true; return nil }

func TestSnapshotRoundTrip(t *testing.T) {
	t.Parallel()
	var cur *Image = emptyImage()
	f := &fsm{current: func() *Image { return cur }, publish: func(im *Image) { cur = im }}
	cmds := []command{
		{Op: opSetClusterID, ClusterID: "cid"},
		{Op: opRegisterBroker, Broker: &Broker{ID: 1, Host: "a", Port: 1, Epoch: 3}},
		{Op: opUnfenceBroker, BrokerID: 1, BrokerEpoch: 3},
		{Op: opRegisterBroker, Broker: &Broker{ID: 2, Host: "b", Port: 2, Epoch: 4}},
		{Op: opCreateTopic, Topic: "t", TopicID: [16]byte{9, 8}, Assignment: [][]int32{{1, 2}, {2, 1}}, Configs: map[string]string{"k": "v"}},
		{Op: opAllocateProducerIDs, Count: 77},
	}
	for i, c := range cmds {
		data, _ := json.Marshal(c)
		res := f.Apply(&raft.Log{Index: uint64(i + 1), Type: raft.LogCommand, Data: data}).(applyResult)
		if res.Err != nil {
			t.Fatalf("command %d: %v", i, res.Err)
		}
	}
	want := cur
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var sink memSink
	if err := snap.Persist(&sink); err != nil || !sink.closed {
		t.Fatalf("Persist: %v closed=%v", err, sink.closed)
	}
	cur = emptyImage()
	if err := f.Restore(io.NopCloser(&sink)); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cur, want) {
		t.Fatalf("restored image differs:\n got %s\nwant %s", dumpImage(cur), dumpImage(want))
	}
	if cur.Version != 6 || cur.NextProducerID != 77 || cur.Topics["t"].ID != [16]byte{9, 8} {
		t.Fatalf("restored %s", dumpImage(cur))
	}
}

func TestSnapshotRejectsUnknownVersion(t *testing.T) {
	t.Parallel()
	if _, err := decodeSnapshot(bytes.NewReader([]byte{9, '{', '}'})); err == nil {
		t.Fatal("version 9 accepted")
	}
}
