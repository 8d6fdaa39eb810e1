package kafkaproto

import "github.com/twmb/franz-go/pkg/kmsg"

// VersionRange is the inclusive range of versions the broker accepts for one API.
type VersionRange struct {
	Key      kmsg.Key
	Min, Max int16
}

// advertised is the ApiVersions table. Maximums are Apache Kafka 4.3's
// (read from a 4.3.1 broker's ApiVersions); minimums go below Kafka's where librdkafka, sarama or segmentio/kafka-go
// still send older versions and kmsg encodes them (kafka-go uses v0/v1 of
// the group and topic admin APIs and ListOffsets v1; sarama configured for
// brokers before 0.11 sends Produce v0-v2 and Fetch < v4). Produce v0-v2
// carry message format v0/v1, which the server up-converts to v2 batches
// (the log stores only those). Transactions APIs are not advertised. SaslHandshake and
// SaslAuthenticate are advertised on every listener, as Kafka does.
var advertised = [...]VersionRange{
	{kmsg.Produce, 0, 13},
	{kmsg.Fetch, 0, 18},
	{kmsg.ListOffsets, 0, 11},
	{kmsg.Metadata, 0, 13},
	{kmsg.OffsetCommit, 0, 10},
	{kmsg.OffsetFetch, 0, 10},
	{kmsg.FindCoordinator, 0, 6},
	{kmsg.JoinGroup, 0, 9},
	{kmsg.Heartbeat, 0, 4},
	{kmsg.LeaveGroup, 0, 5},
	{kmsg.SyncGroup, 0, 5},
	{kmsg.DescribeGroups, 0, 6},
	{kmsg.ListGroups, 0, 5},
	{kmsg.ApiVersions, 0, 4},
	{kmsg.CreateTopics, 0, 7},
	{kmsg.DeleteTopics, 0, 6},
	{kmsg.DeleteRecords, 0, 2},
	{kmsg.InitProducerID, 0, 5},
	{kmsg.OffsetForLeaderEpoch, 0, 4},
	{kmsg.DescribeConfigs, 0, 4},
	{kmsg.AlterConfigs, 0, 2},
	{kmsg.CreatePartitions, 0, 3},
	{kmsg.DeleteGroups, 0, 2},
	{kmsg.IncrementalAlterConfigs, 0, 1},
	{kmsg.OffsetDelete, 0, 0},
	{kmsg.DescribeCluster, 0, 2},
	{kmsg.DescribeProducers, 0, 0},
	{kmsg.SASLHandshake, 0, 1},
	{kmsg.SASLAuthenticate, 0, 2},
	{kmsg.DescribeUserSCRAMCredentials, 0, 0},
	{kmsg.AlterUserSCRAMCredentials, 0, 0},
	{kmsg.DescribeACLs, 0, 3},
	{kmsg.CreateACLs, 0, 3},
	{kmsg.DeleteACLs, 0, 3},
}

// Advertised returns a copy of the table, ordered as above.
func Advertised() []VersionRange {
	out := make([]VersionRange, len(advertised))
	copy(out, advertised[:])
	return out
}

// VersionsFor returns the advertised range for key.
func VersionsFor(key int16) (VersionRange, bool) {
	for _, r := range advertised {
		if int16(r.Key) == key {
			return r, true
		}
	}
	return VersionRange{}, false
}

// IsSupported reports whether (key, version) is advertised.
func IsSupported(key, version int16) bool {
	r, ok := VersionsFor(key)
	return ok && version >= r.Min && version <= r.Max
}

// APIVersionsKeys returns the table as ApiVersions response entries.
func APIVersionsKeys() []kmsg.ApiVersionsResponseApiKey {
	out := make([]kmsg.ApiVersionsResponseApiKey, 0, len(advertised))
	for _, r := range advertised {
		k := kmsg.NewApiVersionsResponseApiKey()
		k.ApiKey, k.MinVersion, k.MaxVersion = int16(r.Key), r.Min, r.Max
		out = append(out, k)
	}
	return out
}
