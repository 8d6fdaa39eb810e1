package server

import (
	"fmt"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/sluicehq/sluice/broker/kafkaproto"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestLegacyProduce: Produce v0-v2 message sets (magic 0 and 1) are
// up-converted; modern consumers read them as records.
func TestLegacyProduce(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	ctx := testCtx(t)
	c := dialRaw(t, b.addr)
	c.createTopic("legacy", 1, nil)
	send := func(version int16, set []byte) (int16, int64) {
		resp := c.roundTrip(produceReq("legacy", 0, -1, set), version).(*kmsg.ProduceResponse)
		p := resp.Topics[0].Partitions[0]
		return p.ErrorCode, p.BaseOffset
	}
	v0 := kafkaproto.AppendLegacyMessage(nil, 0, 0, []byte("k0"), []byte("v0"))
	v1 := append(kafkaproto.AppendLegacyMessage(nil, 1, 1_600_000_000_000, []byte("k1"), []byte("v1")),
		kafkaproto.AppendLegacyMessage(nil, 1, 1_600_000_000_001, []byte("k2"), nil)...)
	if code, base := send(0, v0); code != 0 || base != 0 {
		t.Fatalf("v0: code %d base %d", code, base)
	}
	if code, base := send(2, v1); code != 0 || base != 1 {
		t.Fatalf("v2: code %d base %d", code, base)
	}
	bad := append([]byte(nil), v0...)
	bad[len(bad)-1] ^= 1
	if code, _ := send(1, bad); code != kerr.CorruptMessage.Code {
		t.Fatalf("bad crc: code %d", code)
	}
	cons := newClient(t, b.addr, kgo.ConsumeTopics("legacy"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var got []string
	for len(got) < 3 {
		fs := cons.PollFetches(ctx)
		if err := fs.Err(); err != nil {
			t.Fatal(err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			got = append(got, fmt.Sprintf("%d:%s=%s@%v", r.Offset, r.Key, r.Value, r.Value == nil))
			if r.Offset > 0 && r.Timestamp.UnixMilli() != 1_600_000_000_000+r.Offset-1 {
				t.Errorf("offset %d: timestamp %d", r.Offset, r.Timestamp.UnixMilli())
			}
		})
	}
	if want := "[0:k0=v0@false 1:k1=v1@false 2:k2=@true]"; fmt.Sprint(got) != want {
		t.Fatalf("consumed %v, want %s", got, want)
	}
}

// TestSaramaOldProtocol: sarama configured for a 0.10.2 broker produces
// with Produce v2 (magic 1 messages, gzip) and consumes with Fetch v3.
func TestSaramaOldProtocol(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	c := dialRaw(t, b.addr)
	c.createTopic("old", 1, nil)
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V0_10_2_0
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Compression = sarama.CompressionGZIP
	prod, err := sarama.NewSyncProducer([]string{b.addr}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	for i := range 5 {
		if _, off, err := prod.SendMessage(&sarama.ProducerMessage{Topic: "old", Key: sarama.StringEncoder(fmt.Sprint("k", i)), Value: sarama.StringEncoder(fmt.Sprint("v", i))}); err != nil || off != int64(i) {
			t.Fatalf("send %d: offset %d, %v", i, off, err)
		}
	}
	cons, err := sarama.NewConsumer([]string{b.addr}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	pc, err := cons.ConsumePartition("old", 0, sarama.OffsetOldest)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	deadline := time.After(20 * time.Second) // safety net against a hang, not a criterion
	for i := range 5 {
		select {
		case m := <-pc.Messages():
			if string(m.Key) != fmt.Sprint("k", i) || string(m.Value) != fmt.Sprint("v", i) || m.Offset != int64(i) {
				t.Fatalf("message %d: %s=%s at %d", i, m.Key, m.Value, m.Offset)
			}
		case err := <-pc.Errors():
			t.Fatal(err)
		case <-deadline:
			t.Fatalf("message %d never arrived", i)
		}
	}
}
