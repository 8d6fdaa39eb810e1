package group

import (
	"context"
	"reflect"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// FuzzLoad feeds arbitrary __consumer_offsets records to the replay path:
// it must never panic, and whatever decodes must re-encode to the same value.
func FuzzLoad(f *testing.F) {
	f.Add(offsetKey("g", "t", 3), offsetValue(Offset{Offset: 5, LeaderEpoch: 2, Metadata: "m"}), false)
	f.Add(offsetKey("g", "t", 3), []byte(nil), true)
	f.Add(groupKey("g"), []byte(nil), true)
	g := newGroup("g", testNow)
	g.protocolType, g.protocol, g.generation, g.leader = "consumer", "range", 4, "a"
	iid := "i"
	g.members["a"] = &member{id: "a", instanceID: &iid, protocols: []protocolPref{{name: "range", metadata: consumerMeta("t")}}, assignment: consumerAssignment("t", 1)}
	f.Add(groupKey("g"), g.metadataValueLocked(testNow), false)
	for _, v := range []int16{0, 1, 2, 4} {
		ov := kmsg.OffsetCommitValue{Version: v, Offset: 9, Metadata: "x", ExpireTimestamp: 1}
		f.Add(offsetKey("g", "t", 0), ov.AppendTo(nil), false)
		gv := kmsg.NewGroupMetadataValue()
		gv.Version = v
		gv.ProtocolType = "consumer"
		gv.Members = []kmsg.GroupMetadataValueMember{{MemberID: "a", SessionTimeoutMillis: 10000}}
		f.Add(groupKey("g"), gv.AppendTo(nil), false)
	}
	f.Add([]byte{0, 3, 0, 1, 'x'}, []byte{1, 2}, false)
	f.Add([]byte{0}, []byte{}, false)
	f.Fuzz(func(t *testing.T, key, value []byte, tombstone bool) {
		if tombstone {
			value = nil
		} else if value == nil {
			value = []byte{}
		}
		rec := Record{Key: key, Value: value}
		d, ok, err := decodeRecord(rec)
		if err != nil && ok {
			t.Fatal("ok with an error")
		}
		if ok {
			checkRoundTrip(t, d)
		}
		store := &MemStore{}
		if err := store.Append(context.Background(), []Record{rec, rec}); err != nil {
			t.Fatal(err)
		}
		c := New(store)
		if err := c.load(context.Background()); err != nil {
			t.Fatalf("load: %v", err)
		}
		for _, s := range c.snapshot() {
			if s.state != StateEmpty && s.state != StateStable {
				t.Fatalf("loaded group in state %v", s.state)
			}
			if s.state == StateStable && s.members[s.leader] == nil {
				t.Fatal("stable group without a leader member")
			}
		}
	})
}

func checkRoundTrip(t *testing.T, d decoded) {
	t.Helper()
	if d.offsetVal != nil {
		var again kmsg.OffsetCommitValue
		if err := again.ReadFrom(d.offsetVal.AppendTo(nil)); err != nil {
			t.Fatalf("re-decoding offset value: %v", err)
		}
		if !reflect.DeepEqual(normOffset(again), normOffset(*d.offsetVal)) {
			t.Fatalf("offset value round trip: %+v != %+v", again, *d.offsetVal)
		}
	}
	if d.groupVal != nil {
		var again kmsg.GroupMetadataValue
		if err := again.ReadFrom(d.groupVal.AppendTo(nil)); err != nil {
			t.Fatalf("re-decoding group value: %v", err)
		}
		if again.Generation != d.groupVal.Generation || len(again.Members) != len(d.groupVal.Members) || again.ProtocolType != d.groupVal.ProtocolType {
			t.Fatalf("group value round trip: %+v != %+v", again, *d.groupVal)
		}
	}
}

func normOffset(v kmsg.OffsetCommitValue) kmsg.OffsetCommitValue {
	v.UnknownTags = kmsg.Tags{}
	return v
}
