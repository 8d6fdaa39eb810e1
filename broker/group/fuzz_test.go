package group

import (
	"context"
	"reflect"
	"slices"
	"testing"
	"time"

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

// FuzzHandle decodes arbitrary bytes as any version of a served request,
// sends it twice (so the second meets the state the first left) and checks
// that the coordinator neither panics nor answers something that does not
// encode and decode at the request's version.
func FuzzHandle(f *testing.F) {
	for _, key := range groupAPIs {
		req := kmsg.RequestForKey(key)
		for v := int16(0); v <= req.MaxVersion(); v += 3 {
			r := kmsg.RequestForKey(key)
			r.SetVersion(v)
			fill(r, "g")
			r.SetVersion(v)
			f.Add(key, v, r.AppendTo(nil))
		}
	}
	f.Fuzz(func(t *testing.T, key, version int16, body []byte) {
		if !slices.Contains(groupAPIs, key) {
			return
		}
		req := kmsg.RequestForKey(key)
		if version < 0 || version > req.MaxVersion() {
			return
		}
		req.SetVersion(version)
		if req.ReadFrom(body) != nil {
			return
		}
		c := New(&MemStore{}, WithConfig(testConfig()), WithNode(Node{ID: 1, Host: "h", Port: 1}))
		if err := c.load(context.Background()); err != nil {
			t.Fatal(err)
		}
		close(c.loadedCh)
		for range 2 {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
			resp, err := c.Handle(ctx, req)
			cancel()
			if err != nil {
				continue // a join or sync left waiting, or an unsupported coordinator type
			}
			if resp.GetVersion() != version || resp.Key() != key {
				t.Fatalf("response %s v%d to %s v%d", kmsg.NameForKey(resp.Key()), resp.GetVersion(), kmsg.NameForKey(key), version)
			}
			back := req.ResponseKind()
			back.SetVersion(version)
			if err := back.ReadFrom(resp.AppendTo(nil)); err != nil {
				t.Fatalf("%s v%d response does not decode: %v", kmsg.NameForKey(key), version, err)
			}
		}
	})
}
