package cluster

import (
	"bytes"
	"errors"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

func TestBoltStore(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "raft.db")
	s, err := openBoltStore(path)
	if err != nil {
		t.Fatal(err)
	}
	if i, _ := s.FirstIndex(); i != 0 {
		t.Fatalf("empty FirstIndex = %d", i)
	}
	var logs []*raft.Log
	for i := uint64(1); i <= 10; i++ {
		logs = append(logs, &raft.Log{Index: i, Term: 2, Type: raft.LogCommand, Data: []byte{byte(i)}, Extensions: []byte("x"), AppendedAt: time.Unix(0, int64(i))})
	}
	if err := s.StoreLogs(logs); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteRange(1, 3); err != nil {
		t.Fatal(err)
	}
	first, _ := s.FirstIndex()
	last, _ := s.LastIndex()
	if first != 4 || last != 10 {
		t.Fatalf("indexes %d..%d, want 4..10", first, last)
	}
	var l raft.Log
	if err := s.GetLog(2, &l); !errors.Is(err, raft.ErrLogNotFound) {
		t.Fatalf("GetLog(2) = %v", err)
	}
	if err := s.GetLog(5, &l); err != nil || !reflect.DeepEqual(&l, logs[4]) {
		t.Fatalf("GetLog(5) = %+v, %v; want %+v", l, err, logs[4])
	}
	if _, err := s.GetUint64([]byte("term")); err == nil || err.Error() != "not found" {
		t.Fatalf("missing key: %v (raft needs exactly \"not found\")", err)
	}
	if err := s.SetUint64([]byte("term"), 7); err != nil {
		t.Fatal(err)
	}
	if err := s.Set([]byte("vote"), []byte("3")); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = openBoltStore(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, err := s.GetUint64([]byte("term")); err != nil || v != 7 {
		t.Fatalf("term after reopen = %d, %v", v, err)
	}
	if v, err := s.Get([]byte("vote")); err != nil || !bytes.Equal(v, []byte("3")) {
		t.Fatalf("vote after reopen = %q, %v", v, err)
	}
}

func FuzzDecodeLog(f *testing.F) {
	f.Add(encodeLog(&raft.Log{Index: 1, Term: 1, Data: []byte("abc")}))
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		var l raft.Log
		if err := decodeLog(b, &l); err != nil {
			return
		}
		var l2 raft.Log
		if err := decodeLog(encodeLog(&l), &l2); err != nil || !reflect.DeepEqual(l, l2) {
			t.Fatalf("round trip of %x: %+v vs %+v (%v)", b, l, l2, err)
		}
	})
}
