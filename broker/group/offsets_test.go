package group

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func commitReq(version int16, group, memberID string, gen int32, topic string, offsets map[int32]int64) *kmsg.OffsetCommitRequest {
	r := kmsg.NewPtrOffsetCommitRequest()
	r.Version = version
	r.Group, r.MemberID, r.Generation = group, memberID, gen
	t := kmsg.NewOffsetCommitRequestTopic()
	t.Topic = topic
	for p := int32(0); p < int32(len(offsets)+10); p++ {
		o, ok := offsets[p]
		if !ok {
			continue
		}
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset = p, o
		meta := fmt.Sprintf("meta-%d", p)
		rp.Metadata = &meta
		rp.LeaderEpoch = 7
		t.Partitions = append(t.Partitions, rp)
	}
	r.Topics = append(r.Topics, t)
	return r
}

func commitCodes(r kmsg.Response) []int16 {
	var codes []int16
	for _, t := range r.(*kmsg.OffsetCommitResponse).Topics {
		for _, p := range t.Partitions {
			codes = append(codes, p.ErrorCode)
		}
	}
	return codes
}

func allCodes(codes []int16, want int16) bool {
	for _, c := range codes {
		if c != want {
			return false
		}
	}
	return len(codes) > 0
}

func fetchReq(version int16, group, topic string, partitions ...int32) *kmsg.OffsetFetchRequest {
	r := kmsg.NewPtrOffsetFetchRequest()
	r.Version = version
	if version >= 8 {
		g := kmsg.NewOffsetFetchRequestGroup()
		g.Group = group
		if topic != "" {
			g.Topics = []kmsg.OffsetFetchRequestGroupTopic{{Topic: topic, Partitions: partitions}}
		}
		r.Groups = []kmsg.OffsetFetchRequestGroup{g}
		return r
	}
	r.Group = group
	if topic != "" {
		r.Topics = []kmsg.OffsetFetchRequestTopic{{Topic: topic, Partitions: partitions}}
	}
	return r
}

// fetched flattens any OffsetFetch response version to partition -> offset.
func fetched(t *testing.T, r kmsg.Response) map[int32]kmsg.OffsetFetchResponseGroupTopicPartition {
	t.Helper()
	out := map[int32]kmsg.OffsetFetchResponseGroupTopicPartition{}
	resp := r.(*kmsg.OffsetFetchResponse)
	if resp.Version >= 8 {
		for _, g := range resp.Groups {
			if g.ErrorCode != 0 {
				t.Fatalf("group error %d", g.ErrorCode)
			}
			for _, tp := range g.Topics {
				for _, p := range tp.Partitions {
					out[p.Partition] = p
				}
			}
		}
		return out
	}
	if resp.ErrorCode != 0 {
		t.Fatalf("error %d", resp.ErrorCode)
	}
	for _, tp := range resp.Topics {
		for _, p := range tp.Partitions {
			out[p.Partition] = kmsg.OffsetFetchResponseGroupTopicPartition{
				Partition: p.Partition, Offset: p.Offset, LeaderEpoch: p.LeaderEpoch, Metadata: p.Metadata, ErrorCode: p.ErrorCode,
			}
		}
	}
	return out
}

func TestSimpleCommitFetchAndRestart(t *testing.T) {
	t.Parallel()
	for v := int16(0); v <= 10; v++ {
		if v == 10 {
			continue // v10 names topics by ID: TestTopicIDs
		}
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			t.Parallel()
			run(t, func(t *testing.T) {
				store := &MemStore{}
				h := start(t, store)
				codes := commitCodes(h.do(commitReq(v, "admin", "", -1, "t", map[int32]int64{0: 10, 1: 20})))
				if !allCodes(codes, 0) {
					t.Fatalf("simple commit codes %v", codes)
				}
				check := func(h *harness) {
					t.Helper()
					for fv := int16(0); fv <= 9; fv++ {
						got := fetched(t, h.do(fetchReq(fv, "admin", "t", 0, 1, 2)))
						if got[0].Offset != 10 || got[1].Offset != 20 || got[2].Offset != -1 {
							t.Fatalf("fetch v%d: %+v", fv, got)
						}
						if *got[1].Metadata != "meta-1" || *got[2].Metadata != "" {
							t.Fatalf("fetch v%d metadata: %+v", fv, got)
						}
						wantEpoch := int32(-1)
						if v >= 6 && fv >= 5 {
							wantEpoch = 7
						}
						if fv >= 5 && got[0].LeaderEpoch != wantEpoch {
							t.Fatalf("fetch v%d epoch %d, want %d", fv, got[0].LeaderEpoch, wantEpoch)
						}
					}
					// Null topics: every committed partition (v2+).
					all := fetched(t, h.do(fetchReq(7, "admin", "")))
					if len(all) != 2 {
						t.Fatalf("all partitions: %+v", all)
					}
					all = fetched(t, h.do(fetchReq(9, "admin", "")))
					if len(all) != 2 {
						t.Fatalf("all partitions v9: %+v", all)
					}
				}
				check(h)
				h.stop()
				h2 := start(t, store)
				check(h2)
				if s := h2.state("admin"); s != StateEmpty {
					t.Fatalf("state after restart %v", s)
				}
				offs, err := h2.c.CommittedOffsets("admin")
				if err != nil || offs["t"][1].Offset != 20 {
					t.Fatalf("CommittedOffsets: %v %v", offs, err)
				}
			})
		})
	}
}

func TestMemberCommit(t *testing.T) {
	t.Parallel()
	run(t, func(t *testing.T) {
		h := start(t, nil)
		ids, gen := h.stableGroup("g", 2)
		cases := []struct {
			name   string
			member string
			gen    int32
			want   int16
		}{
			{"current generation", ids[0], gen, 0},
			{"old generation", ids[0], gen - 1, kerr.IllegalGeneration.Code},
			{"unknown member", "x", gen, kerr.UnknownMemberID.Code},
			{"simple commit on active group", "", -1, kerr.UnknownMemberID.Code},
		}
		for _, tc := range cases {
			if codes := commitCodes(h.do(commitReq(8, "g", tc.member, tc.gen, "t", map[int32]int64{0: 5}))); !allCodes(codes, tc.want) {
				t.Errorf("%s: %v, want %d", tc.name, codes, tc.want)
			}
		}
		// Commits go on during PreparingRebalance, not in CompletingRebalance.
		cj := h.joinAsync(5, "g", ids[0])
		if codes := commitCodes(h.do(commitReq(8, "g", ids[1], gen, "t", map[int32]int64{0: 6}))); !allCodes(codes, 0) {
			t.Fatalf("commit while preparing: %v", codes)
		}
		cj2 := h.joinAsync(5, "g", ids[1])
		recv[*kmsg.JoinGroupResponse](t, cj)
		recv[*kmsg.JoinGroupResponse](t, cj2)
		if codes := commitCodes(h.do(commitReq(8, "g", ids[1], gen+1, "t", map[int32]int64{0: 7}))); !allCodes(codes, kerr.RebalanceInProgress.Code) {
			t.Fatalf("commit while completing: %v", codes)
		}
		// A commit for an unknown group with a generation is refused.
		if codes := commitCodes(h.do(commitReq(8, "nope", "m", 3, "t", map[int32]int64{0: 1}))); !allCodes(codes, kerr.IllegalGeneration.Code) {
			t.Fatalf("commit to unknown group: %v", codes)
		}
		if got := fetched(t, h.do(fetchReq(8, "g", "t", 0))); got[0].Offset != 6 {
			t.Fatalf("offset %d, want 6", got[0].Offset)
		}
	})
}

func TestCommitValidation(t *testing.T) {
	t.Parallel()
	run(t, func(t *testing.T) {
		h := start(t, nil, WithTopics(fakeTopics{"t": {id: [16]byte{1}, partitions: 2}}))
		r := commitReq(8, "g", "", -1, "t", map[int32]int64{0: 1, 5: 1})
		big := string(make([]byte, 5000))
		r.Topics[0].Partitions = append(r.Topics[0].Partitions, kmsg.OffsetCommitRequestTopicPartition{Partition: 1, Offset: 1, Metadata: &big})
		codes := commitCodes(h.do(r))
		want := []int16{0, kerr.UnknownTopicOrPartition.Code, kerr.OffsetMetadataTooLarge.Code}
		if fmt.Sprint(codes) != fmt.Sprint(want) {
			t.Fatalf("codes %v, want %v", codes, want)
		}
	})
}

type fakeTopic struct {
	id         [16]byte
	partitions int32
}

type fakeTopics map[string]fakeTopic

func (f fakeTopics) PartitionExists(topic string, p int32) bool {
	t, ok := f[topic]
	return ok && p >= 0 && p < t.partitions
}

func (f fakeTopics) TopicName(id [16]byte) (string, bool) {
	for n, t := range f {
		if t.id == id {
			return n, true
		}
	}
	return "", false
}

func (f fakeTopics) TopicID(name string) ([16]byte, bool) {
	t, ok := f[name]
	return t.id, ok
}

func TestTopicIDs(t *testing.T) {
	t.Parallel()
	run(t, func(t *testing.T) {
		h := start(t, nil, WithTopics(fakeTopics{"t": {id: [16]byte{9}, partitions: 4}}))
		r := commitReq(10, "g", "", -1, "", map[int32]int64{0: 3})
		r.Topics[0].TopicID = [16]byte{9}
		bad := kmsg.NewOffsetCommitRequestTopic()
		bad.TopicID = [16]byte{8}
		bad.Partitions = []kmsg.OffsetCommitRequestTopicPartition{{Partition: 0, Offset: 1}}
		r.Topics = append(r.Topics, bad)
		resp := h.do(r).(*kmsg.OffsetCommitResponse)
		if resp.Topics[0].Partitions[0].ErrorCode != 0 || resp.Topics[1].Partitions[0].ErrorCode != kerr.UnknownTopicID.Code || resp.Topics[0].TopicID != [16]byte{9} {
			t.Fatalf("commit v10: %+v", resp)
		}
		if got := fetched(t, h.do(fetchReq(8, "g", "t", 0))); got[0].Offset != 3 {
			t.Fatalf("by name: %+v", got)
		}
		f := fetchReq(10, "g", "", 0)
		f.Groups[0].Topics = []kmsg.OffsetFetchRequestGroupTopic{{TopicID: [16]byte{9}, Partitions: []int32{0}}}
		fr := h.do(f).(*kmsg.OffsetFetchResponse)
		if p := fr.Groups[0].Topics[0].Partitions[0]; p.Offset != 3 || fr.Groups[0].Topics[0].TopicID != [16]byte{9} {
			t.Fatalf("fetch v10: %+v", fr)
		}
		all := h.do(fetchReq(10, "g", "")).(*kmsg.OffsetFetchResponse)
		if len(all.Groups[0].Topics) != 1 || all.Groups[0].Topics[0].TopicID != [16]byte{9} {
			t.Fatalf("fetch all v10: %+v", all)
		}
	})
}

func TestFetchManyGroups(t *testing.T) {
	t.Parallel()
	run(t, func(t *testing.T) {
		h := start(t, nil)
		h.do(commitReq(8, "a", "", -1, "t", map[int32]int64{0: 1}))
		h.do(commitReq(8, "b", "", -1, "t", map[int32]int64{0: 2}))
		r := kmsg.NewPtrOffsetFetchRequest()
		r.Version = 8
		for _, g := range []string{"a", "b", "missing"} {
			rg := kmsg.NewOffsetFetchRequestGroup()
			rg.Group = g
			rg.Topics = []kmsg.OffsetFetchRequestGroupTopic{{Topic: "t", Partitions: []int32{0}}}
			r.Groups = append(r.Groups, rg)
		}
		resp := h.do(r).(*kmsg.OffsetFetchResponse)
		var got []int64
		for _, g := range resp.Groups {
			got = append(got, g.Topics[0].Partitions[0].Offset)
		}
		if fmt.Sprint(got) != "[1 2 -1]" {
			t.Fatalf("offsets %v", got)
		}
	})
}

func TestOffsetDelete(t *testing.T) {
	t.Parallel()
	run(t, func(t *testing.T) {
		store := &MemStore{}
		h := start(t, store)
		del := func(group, topic string, ps ...int32) *kmsg.OffsetDeleteResponse {
			r := kmsg.NewPtrOffsetDeleteRequest()
			r.Group = group
			rt := kmsg.NewOffsetDeleteRequestTopic()
			rt.Topic = topic
			for _, p := range ps {
				rt.Partitions = append(rt.Partitions, kmsg.OffsetDeleteRequestTopicPartition{Partition: p})
			}
			r.Topics = []kmsg.OffsetDeleteRequestTopic{rt}
			return h.do(r).(*kmsg.OffsetDeleteResponse)
		}
		if r := del("missing", "t", 0); r.ErrorCode != kerr.GroupIDNotFound.Code {
			t.Fatalf("missing group: %d", r.ErrorCode)
		}
		h.do(commitReq(8, "e", "", -1, "t", map[int32]int64{0: 1, 1: 2}))
		if r := del("e", "t", 0, 3); r.ErrorCode != 0 || r.Topics[0].Partitions[0].ErrorCode != 0 {
			t.Fatalf("delete: %+v", r)
		}
		if got := fetched(t, h.do(fetchReq(8, "e", "t", 0, 1))); got[0].Offset != -1 || got[1].Offset != 2 {
			t.Fatalf("after delete: %+v", got)
		}
		// A Stable consumer group subscribed to t refuses; other topics go.
		ids, gen := h.stableGroup("g", 1)
		h.do(commitReq(8, "g", ids[0], gen, "t", map[int32]int64{0: 1}))
		h.do(commitReq(8, "g", ids[0], gen, "u", map[int32]int64{0: 1}))
		if r := del("g", "t", 0); r.Topics[0].Partitions[0].ErrorCode != kerr.GroupSubscribedToTopic.Code {
			t.Fatalf("subscribed: %+v", r)
		}
		if r := del("g", "u", 0); r.ErrorCode != 0 || r.Topics[0].Partitions[0].ErrorCode != 0 {
			t.Fatalf("unsubscribed: %+v", r)
		}
		h.stop()
		h2 := start(t, store)
		offs, _ := h2.c.CommittedOffsets("e")
		if _, ok := offs["t"][0]; ok || offs["t"][1].Offset != 2 {
			t.Fatalf("after restart: %+v", offs)
		}
		offs, _ = h2.c.CommittedOffsets("g")
		if _, ok := offs["u"]; ok {
			t.Fatalf("deleted offsets came back: %+v", offs)
		}
	})
}

func TestDeleteGroups(t *testing.T) {
	t.Parallel()
	run(t, func(t *testing.T) {
		store := &MemStore{}
		h := start(t, store)
		h.do(commitReq(8, "e", "", -1, "t", map[int32]int64{0: 1}))
		h.stableGroup("busy", 1)
		r := kmsg.NewPtrDeleteGroupsRequest()
		r.Version = 2
		r.Groups = []string{"e", "busy", "missing"}
		resp := h.do(r).(*kmsg.DeleteGroupsResponse)
		var codes []int16
		for _, g := range resp.Groups {
			codes = append(codes, g.ErrorCode)
		}
		want := []int16{0, kerr.NonEmptyGroup.Code, kerr.GroupIDNotFound.Code}
		if fmt.Sprint(codes) != fmt.Sprint(want) {
			t.Fatalf("codes %v, want %v", codes, want)
		}
		if _, err := h.c.Describe("e"); !errors.Is(err, ErrUnknownGroup) {
			t.Fatalf("deleted group still there: %v", err)
		}
		// Committing again recreates it fresh.
		if got := fetched(t, h.do(fetchReq(8, "e", "t", 0))); got[0].Offset != -1 {
			t.Fatalf("offsets survived delete: %+v", got)
		}
		h.stop()
		h2 := start(t, store)
		if _, err := h2.c.Describe("e"); !errors.Is(err, ErrUnknownGroup) {
			t.Fatalf("deleted group back after restart: %v", err)
		}
		if s := h2.state("busy"); s != StateStable {
			t.Fatalf("busy group after restart: %v", s)
		}
	})
}

func TestStoreFailure(t *testing.T) {
	t.Parallel()
	run(t, func(t *testing.T) {
		store := &MemStore{}
		h := start(t, store)
		h.do(commitReq(8, "g", "", -1, "t", map[int32]int64{0: 1}))
		store.FailWith(errors.New("disk on fire"))
		if codes := commitCodes(h.do(commitReq(8, "g", "", -1, "t", map[int32]int64{0: 2}))); !allCodes(codes, kerr.CoordinatorNotAvailable.Code) {
			t.Fatalf("codes %v", codes)
		}
		store.FailWith(fmt.Errorf("moved: %w", ErrNotCoordinator))
		if codes := commitCodes(h.do(commitReq(8, "g", "", -1, "t", map[int32]int64{0: 3}))); !allCodes(codes, kerr.NotCoordinator.Code) {
			t.Fatalf("codes %v", codes)
		}
		if got := fetched(t, h.do(fetchReq(8, "g", "t", 0))); got[0].Offset != 1 {
			t.Fatalf("memory changed without a durable write: %+v", got)
		}
		// A leader whose assignment cannot be stored sends the group back to rebalance.
		a := h.newID(5, "s")
		ca := h.joinAsync(5, "s", a)
		ra := recv[*kmsg.JoinGroupResponse](t, ca)
		sr := recv[*kmsg.SyncGroupResponse](t, h.async(syncReq(3, "s", a, ra.Generation, map[string][]byte{a: []byte("x")})))
		if sr.ErrorCode != kerr.NotCoordinator.Code || h.state("s") != StatePreparingRebalance {
			t.Fatalf("sync with failing store: %d, state %v", sr.ErrorCode, h.state("s"))
		}
		store.FailWith(nil)
	})
}

func TestGroupMetadataSurvivesRestart(t *testing.T) {
	t.Parallel()
	run(t, func(t *testing.T) {
		store := &MemStore{}
		h := start(t, store)
		ids, gen := h.stableGroup("g", 2)
		before, _ := h.c.Describe("g")
		h.stop()
		h2 := start(t, store)
		after, err := h2.c.Describe("g")
		if err != nil || after.State != StateStable || after.Generation != gen || after.Leader != ids[0] ||
			len(after.Members) != 2 || after.Protocol != "range" {
			t.Fatalf("after restart: %+v %v", after, err)
		}
		for i := range before.Members {
			if string(before.Members[i].Assignment) != string(after.Members[i].Assignment) {
				t.Fatalf("assignment changed: %+v vs %+v", before.Members[i], after.Members[i])
			}
		}
		for _, id := range ids {
			if code := hbCode(h2.do(heartbeatReq(4, "g", id, gen))); code != 0 {
				t.Fatalf("heartbeat after restart: %d", code)
			}
		}
		// Members that never come back expire, and the group ends Empty.
		time.Sleep(time.Minute)
		if s := h2.state("g"); s != StateEmpty {
			t.Fatalf("state %v", s)
		}
	})
}

func TestOffsetRetention(t *testing.T) {
	t.Parallel()
	run(t, func(t *testing.T) {
		cfg := testConfig()
		cfg.OffsetsRetention = time.Hour
		cfg.RetentionCheckEvery = time.Minute
		store := &MemStore{}
		h := start(t, store, WithConfig(cfg))
		h.do(commitReq(8, "old", "", -1, "t", map[int32]int64{0: 1}))
		time.Sleep(30 * time.Minute)
		h.do(commitReq(8, "young", "", -1, "t", map[int32]int64{0: 1}))
		time.Sleep(31 * time.Minute)
		if _, err := h.c.Describe("old"); !errors.Is(err, ErrUnknownGroup) {
			t.Fatalf("expired group still there: %v", err)
		}
		if offs, err := h.c.CommittedOffsets("young"); err != nil || len(offs["t"]) != 1 {
			t.Fatalf("young group: %v %v", offs, err)
		}
		h.stop()
		h2 := start(t, store, WithConfig(cfg))
		if _, err := h2.c.Describe("old"); !errors.Is(err, ErrUnknownGroup) {
			t.Fatalf("expired group back after restart: %v", err)
		}
	})
}

func TestRecordsAreKafkaFormat(t *testing.T) {
	t.Parallel()
	run(t, func(t *testing.T) {
		store := &MemStore{}
		h := start(t, store)
		h.stableGroup("g", 1)
		h.do(commitReq(8, "g2", "", -1, "t", map[int32]int64{3: 42}))
		var sawOffset, sawGroup bool
		for _, r := range store.Records() {
			switch version := int16(r.Key[0])<<8 | int16(r.Key[1]); version {
			case 1:
				var k kmsg.OffsetCommitKey
				var v kmsg.OffsetCommitValue
				if k.ReadFrom(r.Key) != nil || v.ReadFrom(r.Value) != nil {
					t.Fatal("offset record does not decode")
				}
				if k.Group != "g2" || k.Topic != "t" || k.Partition != 3 || v.Version != 3 || v.Offset != 42 || v.Metadata != "meta-3" || v.LeaderEpoch != 7 {
					t.Fatalf("offset record %+v %+v", k, v)
				}
				sawOffset = true
			case 2:
				var k kmsg.GroupMetadataKey
				var v kmsg.GroupMetadataValue
				if k.ReadFrom(r.Key) != nil || v.ReadFrom(r.Value) != nil {
					t.Fatal("group record does not decode")
				}
				if k.Group != "g" || v.Version != 3 || v.ProtocolType != "consumer" || len(v.Members) != 1 || v.Generation != 1 {
					t.Fatalf("group record %+v %+v", k, v)
				}
				sawGroup = true
			default:
				t.Fatalf("key version %d", version)
			}
		}
		if !sawOffset || !sawGroup {
			t.Fatalf("offset %v group %v", sawOffset, sawGroup)
		}
	})
}

func TestOffsetRetentionStableAndExplicit(t *testing.T) {
	t.Parallel()
	run(t, func(t *testing.T) {
		cfg := testConfig()
		cfg.OffsetsRetention = time.Hour
		cfg.RetentionCheckEvery = time.Minute
		store := &MemStore{}
		h := start(t, store, WithConfig(cfg))
		// v2 commit with its own 10 minute retention (stored as value v1).
		r := commitReq(2, "explicit", "", -1, "t", map[int32]int64{0: 1})
		r.RetentionTimeMillis = (10 * time.Minute).Milliseconds()
		h.do(r)
		h.do(commitReq(8, "explicit", "", -1, "u", map[int32]int64{0: 1}))
		// A Stable consumer group subscribed to t keeps t, loses u.
		sess := withTimeouts(time.Minute, time.Minute)
		ids, gen := h.stableGroup("g", 1, sess)
		h.do(commitReq(8, "g", ids[0], gen, "t", map[int32]int64{0: 1}))
		h.do(commitReq(8, "g", ids[0], gen, "u", map[int32]int64{0: 1}))
		for i := range 160 { // 80 minutes of heartbeats keep g Stable
			time.Sleep(30 * time.Second)
			h.do(heartbeatReq(4, "g", ids[0], gen))
			if i == 40 { // 20 minutes: past the explicit 10, not the broker's hour
				offs, _ := h.c.CommittedOffsets("explicit")
				if _, ok := offs["t"][0]; ok || len(offs["u"]) != 1 {
					t.Fatalf("explicit retention: %+v", offs)
				}
			}
		}
		offs, _ := h.c.CommittedOffsets("g")
		if len(offs["t"]) != 1 || len(offs["u"]) != 0 {
			t.Fatalf("stable group offsets: %+v", offs)
		}
		h.stop()
		h2 := start(t, store, WithConfig(cfg))
		if offs, _ := h2.c.CommittedOffsets("g"); len(offs["u"]) != 0 || len(offs["t"]) != 1 {
			t.Fatalf("after restart: %+v", offs)
		}
	})
}

// TestReplayOlderFormats replays records in every value version Kafka has
// written, as a topic migrated from Kafka would hold them.
func TestReplayOlderFormats(t *testing.T) {
	t.Parallel()
	ts := time.Date(2025, 5, 1, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		name  string
		value kmsg.OffsetCommitValue
		want  Offset
	}{
		{"v0", kmsg.OffsetCommitValue{Version: 0, Offset: 10, Metadata: "a", CommitTimestamp: ts.UnixMilli()},
			Offset{Offset: 10, LeaderEpoch: -1, Metadata: "a", CommitTime: ts}},
		{"v1 with expiry", kmsg.OffsetCommitValue{Version: 1, Offset: 11, CommitTimestamp: ts.UnixMilli(), ExpireTimestamp: ts.Add(time.Hour).UnixMilli()},
			Offset{Offset: 11, LeaderEpoch: -1, CommitTime: ts, ExpireTime: ts.Add(time.Hour)}},
		{"v2", kmsg.OffsetCommitValue{Version: 2, Offset: 12, CommitTimestamp: ts.UnixMilli()},
			Offset{Offset: 12, LeaderEpoch: -1, CommitTime: ts}},
		{"v3", kmsg.OffsetCommitValue{Version: 3, Offset: 13, LeaderEpoch: 4, CommitTimestamp: ts.UnixMilli()},
			Offset{Offset: 13, LeaderEpoch: 4, CommitTime: ts}},
		{"v4 flexible", kmsg.OffsetCommitValue{Version: 4, Offset: 14, LeaderEpoch: 5, Metadata: "m", CommitTimestamp: ts.UnixMilli(), TopicID: [16]byte{3}},
			Offset{Offset: 14, LeaderEpoch: 5, Metadata: "m", CommitTime: ts}},
	}
	for gv := int16(0); gv <= 4; gv++ {
		for _, tc := range cases {
			t.Run(fmt.Sprintf("group v%d offset %s", gv, tc.name), func(t *testing.T) {
				t.Parallel()
				store := &MemStore{}
				k0 := kmsg.OffsetCommitKey{Version: 0, Group: "g", Topic: "t", Partition: 2}
				gm := kmsg.NewGroupMetadataValue()
				gm.Version, gm.ProtocolType, gm.Generation = gv, "consumer", 7
				proto, leader := "range", "m1"
				gm.Protocol, gm.Leader = &proto, &leader
				mv := kmsg.NewGroupMetadataValueMember()
				mv.MemberID, mv.ClientID, mv.SessionTimeoutMillis, mv.RebalanceTimeoutMillis = "m1", "c", 10000, 20000
				mv.Subscription, mv.Assignment = consumerMeta("t"), consumerAssignment("t", 2)
				gm.Members = []kmsg.GroupMetadataValueMember{mv}
				recs := []Record{
					{Key: k0.AppendTo(nil), Value: tc.value.AppendTo(nil)},
					{Key: groupKey("g"), Value: gm.AppendTo(nil)},
					{Key: []byte{0, 3, 0, 1, 'x'}, Value: []byte{0, 0}}, // a KIP-848 record: skipped
				}
				if err := store.Append(t.Context(), recs); err != nil {
					t.Fatal(err)
				}
				c := New(store)
				if err := c.load(t.Context()); err != nil {
					t.Fatal(err)
				}
				close(c.loadedCh)
				offs, err := c.CommittedOffsets("g")
				if err != nil {
					t.Fatal(err)
				}
				got := offs["t"][2]
				if got.Offset != tc.want.Offset || got.LeaderEpoch != tc.want.LeaderEpoch || got.Metadata != tc.want.Metadata ||
					!got.CommitTime.Equal(tc.want.CommitTime) || !got.ExpireTime.Equal(tc.want.ExpireTime) {
					t.Fatalf("offset %+v, want %+v", got, tc.want)
				}
				d, err := c.Describe("g")
				if err != nil || d.State != StateStable || d.Generation != 7 || d.Leader != "m1" || len(d.Members) != 1 ||
					len(d.Members[0].Partitions) != 1 || d.Members[0].Partitions[0].Partitions[0] != 2 {
					t.Fatalf("group %+v %v", d, err)
				}
			})
		}
	}
}
