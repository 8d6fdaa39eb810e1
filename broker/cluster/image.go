package cluster

import (
	"maps"
	"slices"
)

// emptyImage is the image of a cluster before any entry was applied.
func emptyImage() *Image {
	return &Image{Controller: -1, Brokers: map[int32]Broker{}, Topics: map[string]*Topic{}}
}

// shallowClone returns a copy of im whose maps may be modified; the values
// (Topics, their Partitions) are still shared and must be replaced, never
// modified, by the caller (copy-on-write).
func (im *Image) shallowClone() *Image {
	c := *im
	c.Brokers = maps.Clone(im.Brokers)
	c.Topics = maps.Clone(im.Topics)
	if c.Brokers == nil {
		c.Brokers = map[int32]Broker{}
	}
	if c.Topics == nil {
		c.Topics = map[string]*Topic{}
	}
	return &c
}

// clone returns a copy of p that shares no slice with p.
func (p Partition) clone() Partition {
	p.Replicas = slices.Clone(p.Replicas)
	p.ISR = slices.Clone(p.ISR)
	return p
}

// SortedBrokerIDs returns the ids of the registered brokers, ascending;
// alive only when unfencedOnly.
func (im *Image) SortedBrokerIDs(unfencedOnly bool) []int32 {
	var ids []int32
	for id, b := range im.Brokers {
		if unfencedOnly && b.Fenced {
			continue
		}
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// SortedTopicNames returns the topic names, ascending.
func (im *Image) SortedTopicNames() []string {
	return slices.Sorted(maps.Keys(im.Topics))
}
