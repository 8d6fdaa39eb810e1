package admin

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/kafkaclient"
)

// Admin runs administrative requests against one cluster. It is safe for
// concurrent use; Close releases its connections.
type Admin struct {
	kc *kgo.Client
	ac *kadm.Client
}

// New connects lazily: the first request dials the bootstrap brokers.
func New(cfg kafkaclient.Config) (*Admin, error) {
	kc, err := cfg.NewClient()
	if err != nil {
		return nil, err
	}
	return &Admin{kc: kc, ac: kadm.NewClient(kc)}, nil
}

// Close releases the client.
func (a *Admin) Close() { a.kc.Close() }

// TopicSpec is a topic to create.
type TopicSpec struct {
	Name              string
	Partitions        int32 // -1: the broker's default
	ReplicationFactor int16 // -1: the broker's default
	Configs           map[string]string
}

// CreateTopic creates one topic.
func (a *Admin) CreateTopic(ctx context.Context, s TopicSpec) error {
	cfg := make(map[string]*string, len(s.Configs))
	for k, v := range s.Configs {
		cfg[k] = &v
	}
	resp, err := a.ac.CreateTopic(ctx, s.Partitions, s.ReplicationFactor, cfg, s.Name)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		return fmt.Errorf("creating topic %s: %w%s", s.Name, err, detail(resp.ErrMessage))
	}
	return nil
}

// Partition describes one partition of a topic.
type Partition struct {
	ID            int32
	Leader        int32
	LeaderEpoch   int32
	Replicas, ISR []int32
	Start, End    int64 // log start offset and high watermark; -1 unknown
	Err           error
}

// Topic describes a topic.
type Topic struct {
	Name       string
	ID         string
	Internal   bool
	Partitions []Partition
	// Configs holds the topic's own overrides of the broker defaults.
	Configs map[string]string
}

// ListTopics returns the cluster's topics by name, internal ones included
// when internal is set.
func (a *Admin) ListTopics(ctx context.Context, internal bool) ([]Topic, error) {
	list := a.ac.ListTopics
	if internal {
		list = a.ac.ListTopicsWithInternal
	}
	td, err := list(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing topics: %w", err)
	}
	out := make([]Topic, 0, len(td))
	for _, name := range td.Sorted() {
		out = append(out, topicFrom(name))
	}
	return out, nil
}

func topicFrom(d kadm.TopicDetail) Topic {
	// Kafka prints topic ids as unpadded URL-safe base64.
	t := Topic{Name: d.Topic, ID: base64.RawURLEncoding.EncodeToString(d.ID[:]), Internal: d.IsInternal}
	for _, p := range d.Partitions.Sorted() {
		t.Partitions = append(t.Partitions, Partition{
			ID: p.Partition, Leader: p.Leader, LeaderEpoch: p.LeaderEpoch,
			Replicas: p.Replicas, ISR: p.ISR, Start: -1, End: -1, Err: p.Err,
		})
	}
	return t
}

// DescribeTopics returns the named topics with their partitions, offsets and
// non-default configs. An unknown name is an error wrapping ErrUnknownTopic.
func (a *Admin) DescribeTopics(ctx context.Context, names ...string) ([]Topic, error) {
	td, err := a.ac.ListTopicsWithInternal(ctx, names...)
	if err != nil {
		return nil, fmt.Errorf("describing topics: %w", err)
	}
	var errs []error
	for _, n := range names {
		if d, ok := td[n]; !ok || d.Err != nil {
			errs = append(errs, fmt.Errorf("%w: %s", ErrUnknownTopic, n))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	starts, err := a.ac.ListStartOffsets(ctx, names...)
	if err != nil {
		return nil, fmt.Errorf("listing start offsets: %w", err)
	}
	ends, err := a.ac.ListEndOffsets(ctx, names...)
	if err != nil {
		return nil, fmt.Errorf("listing end offsets: %w", err)
	}
	rc, err := a.ac.DescribeTopicConfigs(ctx, names...)
	if err != nil {
		return nil, fmt.Errorf("describing topic configs: %w", err)
	}
	out := make([]Topic, 0, len(names))
	for _, n := range names {
		t := topicFrom(td[n])
		for i := range t.Partitions {
			p := &t.Partitions[i]
			if o, ok := starts.Lookup(n, p.ID); ok && o.Err == nil {
				p.Start = o.Offset
			}
			if o, ok := ends.Lookup(n, p.ID); ok && o.Err == nil {
				p.End = o.Offset
			}
		}
		t.Configs = map[string]string{}
		if c, err := rc.On(n, nil); err == nil {
			for _, kv := range c.Configs {
				if kv.Value != nil && kv.Source == kmsg.ConfigSourceDynamicTopicConfig {
					t.Configs[kv.Key] = *kv.Value
				}
			}
		}
		out = append(out, t)
	}
	return out, nil
}

// TopicChange alters a topic: configs to set and to reset to their
// defaults, and a new, larger partition count (0 leaves it).
type TopicChange struct {
	Set        map[string]string
	Delete     []string
	Partitions int
}

// AlterTopic applies c to the topic name, configs first.
func (a *Admin) AlterTopic(ctx context.Context, name string, c TopicChange) error {
	var alters []kadm.AlterConfig
	for _, k := range slices.Sorted(maps.Keys(c.Set)) {
		v := c.Set[k]
		alters = append(alters, kadm.AlterConfig{Op: kadm.SetConfig, Name: k, Value: &v})
	}
	for _, k := range c.Delete {
		alters = append(alters, kadm.AlterConfig{Op: kadm.DeleteConfig, Name: k})
	}
	if len(alters) > 0 {
		resp, err := a.ac.AlterTopicConfigs(ctx, alters, name)
		if err == nil {
			var r kadm.AlterConfigsResponse
			if r, err = resp.On(name, nil); err == nil {
				err = r.Err
				if err != nil {
					err = fmt.Errorf("%w%s", err, detail(r.ErrMessage))
				}
			}
		}
		if err != nil {
			return fmt.Errorf("altering configs of topic %s: %w", name, err)
		}
	}
	if c.Partitions > 0 {
		resp, err := a.ac.UpdatePartitions(ctx, c.Partitions, name)
		if err == nil {
			var r kadm.CreatePartitionsResponse
			if r, err = resp.On(name, nil); err == nil {
				err = r.Err
				if err != nil {
					err = fmt.Errorf("%w%s", err, detail(r.ErrMessage))
				}
			}
		}
		if err != nil {
			return fmt.Errorf("setting partitions of topic %s to %d: %w", name, c.Partitions, err)
		}
	}
	return nil
}

// DeleteTopics deletes the named topics; every failure is reported.
func (a *Admin) DeleteTopics(ctx context.Context, names ...string) error {
	resp, err := a.ac.DeleteTopics(ctx, names...)
	if err != nil {
		return fmt.Errorf("deleting topics: %w", err)
	}
	var errs []error
	for _, n := range names {
		if r, ok := resp[n]; ok && r.Err != nil {
			errs = append(errs, fmt.Errorf("deleting topic %s: %w%s", n, r.Err, detail(r.ErrMessage)))
		}
	}
	return errors.Join(errs...)
}

func detail(msg string) string {
	if msg == "" {
		return ""
	}
	return ": " + msg
}
