package cluster

import (
	"slices"
)

// The controller's decisions are pure functions of an Image so they can be
// tested without Raft. The controller turns their results into commands.

// uncleanFunc reports whether topic t may elect a replica outside its ISR
// when no ISR member is alive.
type uncleanFunc func(t *Topic) bool

// uncleanFromConfigs returns the uncleanFunc of Kafka's
// unclean.leader.election.enable: the topic override, else the broker's.
func uncleanFromConfigs(broker map[string]string) uncleanFunc {
	def := broker[cfgUncleanElection] == "true"
	return func(t *Topic) bool {
		if v, ok := t.Configs[cfgUncleanElection]; ok {
			return v == "true"
		}
		return def
	}
}

// withBroker returns a copy of im in which broker id's Fenced is fenced.
func withBroker(im *Image, id int32, fenced bool) *Image {
	c := im.shallowClone()
	if b, ok := c.Brokers[id]; ok {
		b.Fenced = fenced
		c.Brokers[id] = b
	}
	return c
}

// fenceChanges returns the partition changes that take broker id out of
// service: it leaves the ISR of every partition where it is not the last
// member, and each partition it leads gets a leader from the remaining
// alive ISR members (first in replica order), or goes offline (leader -1,
// ISR kept) unless unclean election allows any alive replica. Brokers other
// than id are judged by im.
func fenceChanges(im *Image, id int32, unclean uncleanFunc) []PartitionChange {
	dead := withBroker(im, id, true)
	var out []PartitionChange
	for _, name := range dead.SortedTopicNames() {
		t := dead.Topics[name]
		for i, p := range t.Partitions {
			if !slices.Contains(p.Replicas, id) {
				continue
			}
			isr := p.ISR
			if slices.Contains(isr, id) && len(isr) > 1 {
				isr = slices.DeleteFunc(slices.Clone(isr), func(r int32) bool { return r == id })
			}
			leader := p.Leader
			if leader == -1 || !dead.Alive(leader) {
				leader, isr = elect(dead, p.Replicas, isr, unclean(t))
			}
			if ch, ok := change(name, int32(i), p, leader, isr); ok {
				out = append(out, ch)
			}
		}
	}
	return out
}

// electChanges returns a leader for every partition whose leader is offline
// or not alive, when one can be elected. It is how a broker coming back
// (unfenced) takes over the offline partitions whose ISR contains it, and
// how a new controller repairs anything left behind.
func electChanges(im *Image, unclean uncleanFunc) []PartitionChange {
	var out []PartitionChange
	for _, name := range im.SortedTopicNames() {
		t := im.Topics[name]
		for i, p := range t.Partitions {
			if p.Leader != -1 && im.Alive(p.Leader) {
				continue
			}
			leader, isr := elect(im, p.Replicas, p.ISR, unclean(t))
			if ch, ok := change(name, int32(i), p, leader, isr); ok {
				out = append(out, ch)
			}
		}
	}
	return out
}

// elect picks the first replica that is in isr and alive. Failing that,
// with unclean the first alive replica leads with itself as the ISR;
// otherwise the partition is offline (-1) with isr unchanged.
func elect(im *Image, replicas, isr []int32, unclean bool) (int32, []int32) {
	for _, r := range replicas {
		if slices.Contains(isr, r) && im.Alive(r) {
			return r, isr
		}
	}
	if unclean {
		for _, r := range replicas {
			if im.Alive(r) {
				return r, []int32{r}
			}
		}
	}
	return -1, isr
}

// change returns the PartitionChange moving p to leader and isr, false when
// nothing changes. A new leader bumps the leader epoch; any change bumps the
// partition epoch.
func change(topic string, partition int32, p Partition, leader int32, isr []int32) (PartitionChange, bool) {
	if leader == p.Leader && slices.Equal(isr, p.ISR) {
		return PartitionChange{}, false
	}
	ch := PartitionChange{
		Topic: topic, Partition: partition, Leader: leader, ISR: slices.Clone(isr),
		LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch + 1,
	}
	if leader != p.Leader {
		ch.LeaderEpoch++
	}
	return ch, true
}

// placeReplicas assigns n partitions of rf replicas over brokers (sorted
// ids), the way Kafka places replicas without racks: partition i's first
// replica is brokers[(i+start) % len], and the followers follow it at a
// distance that grows by one each time the partitions have gone once round
// the brokers (shift), so leaders and followers both spread evenly.
// firstID is the id of the first partition placed (CreatePartitions).
// Callers guarantee 1 <= rf <= len(brokers).
func placeReplicas(brokers []int32, n, rf, start, shift, firstID int) [][]int32 {
	nb := len(brokers)
	out := make([][]int32, 0, n)
	for i := 0; i < n; i++ {
		id := firstID + i
		if id > 0 && id%nb == 0 {
			shift++
		}
		first := (id + start) % nb
		replicas := []int32{brokers[first]}
		for j := 0; j < rf-1; j++ {
			step := 1
			if nb > 1 {
				step = 1 + (shift+j)%(nb-1)
			}
			replicas = append(replicas, brokers[(first+step)%nb])
		}
		out = append(out, replicas)
	}
	return out
}

// preferredChanges moves leadership back to each partition's preferred
// replica (the first) when it is alive, in the ISR and not leading — what
// Kafka's auto.leader.rebalance does — so leaders spread out again after a
// broker came back.
func preferredChanges(im *Image) []PartitionChange {
	var out []PartitionChange
	for _, name := range im.SortedTopicNames() {
		for i, p := range im.Topics[name].Partitions {
			if len(p.Replicas) == 0 {
				continue
			}
			pref := p.Replicas[0]
			if p.Leader == pref || !im.Alive(pref) || !slices.Contains(p.ISR, pref) {
				continue
			}
			if ch, ok := change(name, int32(i), p, pref, p.ISR); ok {
				out = append(out, ch)
			}
		}
	}
	return out
}
