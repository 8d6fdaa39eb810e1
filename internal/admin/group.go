package admin

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// GroupSummary is one line of a group listing.
type GroupSummary struct {
	Name, State, ProtocolType string
}

// ListGroups returns every group the cluster knows, by name.
func (a *Admin) ListGroups(ctx context.Context) ([]GroupSummary, error) {
	lg, err := a.ac.ListGroups(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing groups: %w", err)
	}
	out := make([]GroupSummary, 0, len(lg))
	for _, g := range lg.Sorted() {
		out = append(out, GroupSummary{Name: g.Group, State: g.State, ProtocolType: g.ProtocolType})
	}
	return out, nil
}

// Member is a live member of a group.
type Member struct {
	ID, InstanceID, ClientID, Host string
	Assigned                       map[string][]int32 // topic → partitions, for consumer groups
}

// GroupOffset is a group's position on one partition.
type GroupOffset struct {
	Topic     string
	Partition int32
	Committed int64 // -1: none
	End       int64 // high watermark; -1 unknown
	Lag       int64 // -1 unknown
	MemberID  string
}

// Group describes one group with its members and per-partition lag.
type Group struct {
	Name, State, ProtocolType, Protocol string
	Members                             []Member
	Offsets                             []GroupOffset
}

// DescribeGroup describes name, including committed offsets and lag.
func (a *Admin) DescribeGroup(ctx context.Context, name string) (Group, error) {
	lags, err := a.ac.Lag(ctx, name)
	if err != nil {
		return Group{}, fmt.Errorf("describing group %s: %w", name, err)
	}
	l, ok := lags[name]
	if !ok {
		return Group{}, fmt.Errorf("describing group %s: no answer for it", name)
	}
	if err := l.Error(); err != nil {
		return Group{}, fmt.Errorf("describing group %s: %w", name, err)
	}
	g := Group{Name: name, State: l.State, ProtocolType: l.ProtocolType, Protocol: l.Protocol}
	for _, m := range l.Members {
		mem := Member{ID: m.MemberID, ClientID: m.ClientID, Host: m.ClientHost, Assigned: map[string][]int32{}}
		if m.InstanceID != nil {
			mem.InstanceID = *m.InstanceID
		}
		if ca, ok := m.Assigned.AsConsumer(); ok {
			for _, t := range ca.Topics {
				mem.Assigned[t.Topic] = t.Partitions
			}
		}
		g.Members = append(g.Members, mem)
	}
	for _, ml := range l.Lag.Sorted() {
		o := GroupOffset{Topic: ml.Topic, Partition: ml.Partition, Committed: -1, End: -1, Lag: -1}
		if ml.Commit.At >= 0 && ml.Err == nil {
			o.Committed = ml.Commit.At
		}
		if ml.End.Err == nil {
			o.End = ml.End.Offset
		}
		if ml.Err == nil && o.End >= 0 {
			o.Lag = ml.Lag
		}
		if ml.Member != nil {
			o.MemberID = ml.Member.MemberID
		}
		g.Offsets = append(g.Offsets, o)
	}
	return g, nil
}

// DeleteGroups deletes the named groups; every failure is reported.
func (a *Admin) DeleteGroups(ctx context.Context, names ...string) error {
	resp, err := a.ac.DeleteGroups(ctx, names...)
	if err != nil {
		return fmt.Errorf("deleting groups: %w", err)
	}
	var errs []error
	for _, n := range names {
		if r, ok := resp[n]; ok && r.Err != nil {
			errs = append(errs, fmt.Errorf("deleting group %s: %w", n, r.Err))
		}
	}
	return errors.Join(errs...)
}

// ResetTo says where ResetSpec moves each partition; exactly one field is set.
type ResetTo struct {
	Earliest, Latest bool
	Offset           *int64
	Datetime         *time.Time
	ShiftBy          *int64
}

func (r ResetTo) count() int {
	n := 0
	for _, set := range []bool{r.Earliest, r.Latest, r.Offset != nil, r.Datetime != nil, r.ShiftBy != nil} {
		if set {
			n++
		}
	}
	return n
}

// TopicPartitions selects partitions of a topic; empty Partitions means all.
type TopicPartitions struct {
	Topic      string
	Partitions []int32
}

// ParseTopicPartitions parses `topic` or `topic:0,2,5` as the CLI takes it.
func ParseTopicPartitions(s string) (TopicPartitions, error) {
	name, parts, found := strings.Cut(s, ":")
	if name == "" {
		return TopicPartitions{}, fmt.Errorf("topic %q: empty name", s)
	}
	tp := TopicPartitions{Topic: name}
	if !found {
		return tp, nil
	}
	for _, p := range strings.Split(parts, ",") {
		var n int32
		if _, err := fmt.Sscanf(p, "%d", &n); err != nil || n < 0 || fmt.Sprint(n) != p {
			return TopicPartitions{}, fmt.Errorf("topic %q: partition %q is not a non-negative integer", s, p)
		}
		tp.Partitions = append(tp.Partitions, n)
	}
	return tp, nil
}

// ResetSpec is an offset reset request for one group.
type ResetSpec struct {
	Group  string
	Topics []TopicPartitions
	To     ResetTo
}

// ResetPlanEntry is the planned move of one partition.
type ResetPlanEntry struct {
	Topic     string
	Partition int32
	Current   int64 // committed now; -1 none
	New       int64
}

// ResetPlan is what ExecuteReset would commit.
type ResetPlan struct {
	Group   string
	State   string
	Entries []ResetPlanEntry
}

// PlanReset computes the new offsets for s without changing anything. Like
// kafka-consumer-groups, targets are clamped to each partition's
// [log start, high watermark]; a time with no later record resolves to the
// end. It refuses with *GroupActiveError while the group has members.
func (a *Admin) PlanReset(ctx context.Context, s ResetSpec) (ResetPlan, error) {
	if s.To.count() != 1 {
		return ResetPlan{}, errors.New("admin: exactly one reset target is required")
	}
	state, err := a.groupState(ctx, s.Group)
	if err != nil {
		return ResetPlan{}, err
	}
	if state != "Empty" && state != "Dead" {
		return ResetPlan{}, &GroupActiveError{Group: s.Group, State: state}
	}
	topics := make([]string, 0, len(s.Topics))
	for _, tp := range s.Topics {
		topics = append(topics, tp.Topic)
	}
	td, err := a.ac.ListTopics(ctx, topics...)
	if err != nil {
		return ResetPlan{}, fmt.Errorf("listing topics: %w", err)
	}
	starts, err := a.ac.ListStartOffsets(ctx, topics...)
	if err != nil {
		return ResetPlan{}, fmt.Errorf("listing start offsets: %w", err)
	}
	ends, err := a.ac.ListEndOffsets(ctx, topics...)
	if err != nil {
		return ResetPlan{}, fmt.Errorf("listing end offsets: %w", err)
	}
	var byTime kadm.ListedOffsets
	if s.To.Datetime != nil {
		if byTime, err = a.ac.ListOffsetsAfterMilli(ctx, s.To.Datetime.UnixMilli(), topics...); err != nil {
			return ResetPlan{}, fmt.Errorf("listing offsets at %s: %w", s.To.Datetime.Format(time.RFC3339), err)
		}
	}
	committed, err := a.ac.FetchOffsetsForTopics(ctx, s.Group, topics...)
	if err != nil {
		return ResetPlan{}, fmt.Errorf("fetching committed offsets of group %s: %w", s.Group, err)
	}

	plan := ResetPlan{Group: s.Group, State: state}
	for _, tp := range s.Topics {
		d, ok := td[tp.Topic]
		if !ok || d.Err != nil {
			return ResetPlan{}, fmt.Errorf("%w: %s", ErrUnknownTopic, tp.Topic)
		}
		parts := tp.Partitions
		if len(parts) == 0 {
			parts = d.Partitions.Numbers()
			slices.Sort(parts)
		}
		for _, p := range parts {
			if _, ok := d.Partitions[p]; !ok {
				return ResetPlan{}, fmt.Errorf("topic %s has no partition %d", tp.Topic, p)
			}
			lo, err := offsetOf(starts, tp.Topic, p)
			if err != nil {
				return ResetPlan{}, err
			}
			hi, err := offsetOf(ends, tp.Topic, p)
			if err != nil {
				return ResetPlan{}, err
			}
			cur := int64(-1)
			if r, ok := committed.Lookup(tp.Topic, p); ok && r.Err == nil {
				cur = r.At
			}
			var target int64
			switch {
			case s.To.Earliest:
				target = lo
			case s.To.Latest:
				target = hi
			case s.To.Offset != nil:
				target = *s.To.Offset
			case s.To.Datetime != nil:
				target = hi
				if o, ok := byTime.Lookup(tp.Topic, p); ok && o.Err == nil && o.Offset >= 0 {
					target = o.Offset
				}
			case s.To.ShiftBy != nil:
				base := cur
				if base < 0 {
					base = lo
				}
				target = base + *s.To.ShiftBy
			}
			plan.Entries = append(plan.Entries, ResetPlanEntry{
				Topic: tp.Topic, Partition: p, Current: cur, New: min(max(target, lo), hi),
			})
		}
	}
	return plan, nil
}

func offsetOf(l kadm.ListedOffsets, topic string, p int32) (int64, error) {
	o, ok := l.Lookup(topic, p)
	if !ok {
		return 0, fmt.Errorf("no offsets for %s[%d]", topic, p)
	}
	if o.Err != nil {
		return 0, fmt.Errorf("listing offsets of %s[%d]: %w", topic, p, o.Err)
	}
	return o.Offset, nil
}

func (a *Admin) groupState(ctx context.Context, group string) (string, error) {
	dg, err := a.ac.DescribeGroups(ctx, group)
	if err != nil {
		return "", fmt.Errorf("describing group %s: %w", group, err)
	}
	d, ok := dg[group]
	if !ok {
		return "", fmt.Errorf("describing group %s: no answer for it", group)
	}
	if d.Err != nil {
		return "", fmt.Errorf("describing group %s: %w", group, d.Err)
	}
	return d.State, nil
}

// ExecuteReset commits plan. The group's state is checked again right before
// the commit; the coordinator itself also refuses a commit without a
// generation while members are joined.
func (a *Admin) ExecuteReset(ctx context.Context, plan ResetPlan) error {
	state, err := a.groupState(ctx, plan.Group)
	if err != nil {
		return err
	}
	if state != "Empty" && state != "Dead" {
		return &GroupActiveError{Group: plan.Group, State: state}
	}
	var os kadm.Offsets
	for _, e := range plan.Entries {
		os.Add(kadm.Offset{Topic: e.Topic, Partition: e.Partition, At: e.New, LeaderEpoch: -1})
	}
	resp, err := a.ac.CommitOffsets(ctx, plan.Group, os)
	if err != nil {
		return fmt.Errorf("committing offsets of group %s: %w", plan.Group, err)
	}
	if err := resp.Error(); err != nil {
		return fmt.Errorf("committing offsets of group %s: %w", plan.Group, err)
	}
	return nil
}
