package server

import (
	"fmt"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestOracleKfake sends one request script to kfake (franz-go's fake
// Kafka) and to our broker, and diffs the normalized answers: error codes
// and offsets per partition. Where Sluice deliberately differs from kfake,
// the step says why and states our expectation instead.
func TestOracleKfake(t *testing.T) {
	t.Parallel()
	fake, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Close)
	ours := startBroker(t, withBrokerConfig("auto.create.topics.enable", "false"))
	kc, oc := dialRaw(t, fake.ListenAddrs()[0]), dialRaw(t, ours.addr)

	type step struct {
		name    string
		req     func() kmsg.Request
		version int16
		ours    string // non-empty: a deliberate difference from kfake, and our expected answer
	}
	create := func(name string, parts int32, rf int16) func() kmsg.Request {
		return func() kmsg.Request {
			r := kmsg.NewPtrCreateTopicsRequest()
			rt := kmsg.NewCreateTopicsRequestTopic()
			rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, parts, rf
			r.Topics = append(r.Topics, rt)
			return r
		}
	}
	produce := func(topic string, partition int32) func() kmsg.Request {
		return func() kmsg.Request { return produceReq(topic, partition, -1, makeBatch(batchOpts{})) }
	}
	listOffsets := func(topic string, partition int32, ts int64) func() kmsg.Request {
		return func() kmsg.Request {
			r := kmsg.NewPtrListOffsetsRequest()
			rt := kmsg.NewListOffsetsRequestTopic()
			rt.Topic = topic
			rp := kmsg.NewListOffsetsRequestTopicPartition()
			rp.Partition, rp.Timestamp = partition, ts
			rt.Partitions = append(rt.Partitions, rp)
			r.Topics = append(r.Topics, rt)
			return r
		}
	}
	fetch := func(topic string, partition int32, offset int64) func() kmsg.Request {
		return func() kmsg.Request {
			return fetchReq(topic, [16]byte{}, 1<<20, 0, 0, fetchPart{partition, offset, 1 << 20})
		}
	}
	steps := []step{
		{"create", create("o", 2, 1), 7, ""},
		{"create again", create("o", 2, 1), 7, ""},
		{"create zero partitions", create("z", 0, 1), 7, ""},
		// kfake does not validate names; Kafka (and we) answer
		// INVALID_TOPIC_EXCEPTION (17).
		{"create bad name", create("bad/name", 1, 1), 7, "bad/name:17 "},
		{"produce p0", produce("o", 0), 9, ""},
		{"produce p0 again", produce("o", 0), 9, ""},
		{"produce p1", produce("o", 1), 9, ""},
		{"produce missing partition", produce("o", 7), 9, ""},
		{"produce missing topic", produce("missing", 0), 9, ""},
		{"list latest", listOffsets("o", 0, -1), 7, ""},
		{"list earliest", listOffsets("o", 0, -2), 7, ""},
		{"list missing partition", listOffsets("o", 9, -1), 7, ""},
		{"fetch start", fetch("o", 0, 0), 11, ""},
		{"fetch end", fetch("o", 0, 2), 11, ""},
		{"fetch past end", fetch("o", 0, 3), 11, ""},
		{"fetch missing topic", fetch("missing", 0, 0), 11, ""},
		{"metadata missing topic", func() kmsg.Request {
			r := kmsg.NewPtrMetadataRequest()
			rt := kmsg.NewMetadataRequestTopic()
			rt.Topic = kmsg.StringPtr("missing")
			r.Topics = append(r.Topics, rt)
			return r
		}, 12, ""},
		{"delete missing topic", func() kmsg.Request {
			r := kmsg.NewPtrDeleteTopicsRequest()
			r.TopicNames = []string{"missing"}
			return r
		}, 5, ""},
		{"delete", func() kmsg.Request {
			r := kmsg.NewPtrDeleteTopicsRequest()
			r.TopicNames = []string{"o"}
			return r
		}, 5, ""},
	}
	for _, st := range steps {
		want := normalize(kc.roundTrip(st.req(), st.version))
		if st.ours != "" {
			want = st.ours
		}
		got := normalize(oc.roundTrip(st.req(), st.version))
		if got != want {
			t.Errorf("%s:\n kfake: %s\n ours:  %s", st.name, want, got)
		}
	}
}

// normalize renders what must agree: error codes, and offsets of
// partitions without error, per topic and partition, in request order.
// (On errors Kafka answers offsets and watermarks of -1 where kfake
// answers 0; we follow Kafka.)
func normalize(r kmsg.Response) string {
	var b strings.Builder
	switch r := r.(type) {
	case *kmsg.CreateTopicsResponse:
		for _, t := range r.Topics {
			fmt.Fprintf(&b, "%s:%d ", t.Topic, t.ErrorCode)
		}
	case *kmsg.ProduceResponse:
		for _, t := range r.Topics {
			for _, p := range t.Partitions {
				fmt.Fprintf(&b, "%s/%d:%d@%d ", t.Topic, p.Partition, p.ErrorCode, okOnly(p.ErrorCode, p.BaseOffset))
			}
		}
	case *kmsg.ListOffsetsResponse:
		for _, t := range r.Topics {
			for _, p := range t.Partitions {
				fmt.Fprintf(&b, "%s/%d:%d@%d ", t.Topic, p.Partition, p.ErrorCode, okOnly(p.ErrorCode, p.Offset))
			}
		}
	case *kmsg.FetchResponse:
		fmt.Fprintf(&b, "top:%d ", r.ErrorCode)
		for _, t := range r.Topics {
			for _, p := range t.Partitions {
				fmt.Fprintf(&b, "%s/%d:%d hw=%d bytes>0=%v ", t.Topic, p.Partition, p.ErrorCode, okOnly(p.ErrorCode, p.HighWatermark), len(p.RecordBatches) > 0)
			}
		}
	case *kmsg.MetadataResponse:
		for _, t := range r.Topics {
			fmt.Fprintf(&b, "%v:%d ", *t.Topic, t.ErrorCode)
		}
	case *kmsg.DeleteTopicsResponse:
		for _, t := range r.Topics {
			fmt.Fprintf(&b, "%v:%d ", *t.Topic, t.ErrorCode)
		}
	default:
		fmt.Fprintf(&b, "%T", r)
	}
	return b.String()
}

func okOnly(code int16, offset int64) int64 {
	if code != 0 {
		return -1
	}
	return offset
}
