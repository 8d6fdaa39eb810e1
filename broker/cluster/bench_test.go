package cluster

import (
	"context"
	"testing"
	"time"
)

// BenchmarkControllerRequest measures one committed controller request
// (a producer id block) on a three-node cluster on 127.0.0.1, sent from
// the leader (in place) and from a follower (forwarded over the RPC).
func BenchmarkControllerRequest(b *testing.B) {
	for _, from := range []string{"leader", "follower"} {
		b.Run(from, func(b *testing.B) {
			tc := newTestCluster(b, 3, testConfigs)
			for _, id := range []int32{1, 2, 3} {
				tc.waitImage(id, "all brokers unfenced", allAlive(1, 2, 3))
			}
			im, _ := tc.node(1).Image()
			id := im.Controller
			if from == "follower" {
				id = id%3 + 1
			}
			n := tc.node(id)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			b.ResetTimer()
			for b.Loop() {
				if _, err := n.AllocateProducerIDs(ctx, 1); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
