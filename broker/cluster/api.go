package cluster

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Controller requests may be made on any node: they are sent to the Raft
// leader (the controller) over the controller RPC, or handled in place when
// this node leads. A request that meets no active controller is retried
// with a short backoff, across leader changes, until ctx ends; it then
// fails with kerr.NotController wrapped with the reason. Refusals are
// *RequestError, which unwraps to the *kerr.Error a client should see.
//
// The uint64 results are the Raft index of the committed change: WaitFor it
// to see the change in this node's Image.

// CreateTopic creates spec (see TopicSpec for -1 defaults). With
// validateOnly nothing is committed and the current version is returned.
func (n *Node) CreateTopic(ctx context.Context, spec TopicSpec, validateOnly bool) (uint64, error) {
	resp, err := n.call(ctx, &rpcRequest{Op: rpcCreateTopic, Spec: &spec, ValidateOnly: validateOnly})
	return resp.Index, err
}

// DeleteTopic deletes topic name (kerr.UnknownTopicOrPartition when absent).
func (n *Node) DeleteTopic(ctx context.Context, name string) (uint64, error) {
	resp, err := n.call(ctx, &rpcRequest{Op: rpcDeleteTopic, Topic: name})
	return resp.Index, err
}

// CreatePartitions grows topic name to total partitions (only grows:
// kerr.InvalidPartitions otherwise).
func (n *Node) CreatePartitions(ctx context.Context, name string, total int32, validateOnly bool) (uint64, error) {
	resp, err := n.call(ctx, &rpcRequest{Op: rpcCreatePartitions, Topic: name, Total: total, ValidateOnly: validateOnly})
	return resp.Index, err
}

// SetTopicConfigs replaces topic name's config overrides with configs.
func (n *Node) SetTopicConfigs(ctx context.Context, name string, configs map[string]string) (uint64, error) {
	resp, err := n.call(ctx, &rpcRequest{Op: rpcSetConfigs, Topic: name, Configs: configs})
	return resp.Index, err
}

// AlterPartition is sent by a partition's leader (this node) to change its
// ISR. leaderEpoch and partitionEpoch are the epochs the leader holds; a
// mismatch is kerr.FencedLeaderEpoch or kerr.InvalidUpdateVersion. The new
// ISR must contain the leader, be a subset of the replicas and add only
// unfenced brokers (kerr.IneligibleReplica). Returns the committed state
// (partition epoch + 1); the caller owns the returned slices.
func (n *Node) AlterPartition(ctx context.Context, topic string, partition, leaderEpoch, partitionEpoch int32, isr []int32) (Partition, error) {
	resp, err := n.call(ctx, &rpcRequest{Op: rpcAlterPartition, Topic: topic, Partition: partition, LeaderEpoch: leaderEpoch, PartitionEpoch: partitionEpoch, ISR: isr})
	if err != nil {
		return Partition{}, err
	}
	if resp.Partition == nil {
		return Partition{}, fmt.Errorf("alter partition %s-%d: controller answered without a partition", topic, partition)
	}
	return *resp.Partition, nil
}

// AllocateProducerIDs reserves count (1..2^24) producer ids unique in the
// cluster and returns the first: the block is [first, first+count).
func (n *Node) AllocateProducerIDs(ctx context.Context, count int64) (first int64, err error) {
	resp, err := n.call(ctx, &rpcRequest{Op: rpcAllocatePIDs, Count: count})
	return resp.First, err
}

// errNoLeader explains a failed attempt when Raft knows no leader.
var errNoLeader = errors.New("no raft leader known")

// call sends req to the controller, retrying until ctx ends.
func (n *Node) call(ctx context.Context, req *rpcRequest) (rpcResponse, error) {
	req.BrokerID = n.cfg.NodeID
	select {
	case <-n.started:
	case <-n.stopped:
		return rpcResponse{}, ErrClosed
	case <-ctx.Done():
		return rpcResponse{}, fmt.Errorf("%w: node not running yet: %v", kerr.NotController, ctx.Err())
	}
	r := n.raft.Load()
	backoff := 20 * time.Millisecond
	var lastErr error
	for {
		select {
		case <-n.stopped:
			if req.Op != rpcShutdown {
				return rpcResponse{}, ErrClosed
			}
		default:
		}
		var resp rpcResponse
		var err error
		_, id := r.LeaderWithID()
		switch {
		case id == "":
			err = errNoLeader
		case string(id) == strconv.Itoa(int(n.cfg.NodeID)):
			resp = n.handle(ctx, req)
		default:
			leader, perr := strconv.ParseInt(string(id), 10, 32)
			addr, ok := n.cfg.voterAddr(int32(leader))
			if perr != nil || !ok {
				err = fmt.Errorf("raft leader %q is not a voter of the quorum", id)
				break
			}
			resp, err = n.rpc.do(ctx, addr, req)
		}
		if err == nil && resp.NotController == "" {
			if resp.Err != nil {
				return resp, resp.Err
			}
			return resp, nil
		}
		if err == nil {
			err = fmt.Errorf("node %s: %s", id, resp.NotController)
		}
		lastErr = err
		select {
		case <-ctx.Done():
			return rpcResponse{}, fmt.Errorf("%w: no controller reached before %v: last attempt: %v", kerr.NotController, ctx.Err(), lastErr)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 250*time.Millisecond)
	}
}

// handleRemote serves a request that arrived over the RPC listener.
func (n *Node) handleRemote(req *rpcRequest) rpcResponse {
	ctx, cancel := context.WithTimeout(context.Background(), rpcCallTimeout)
	defer cancel()
	return n.handle(ctx, req)
}

// handle runs req on this node's controller.
func (n *Node) handle(ctx context.Context, req *rpcRequest) rpcResponse {
	var resp rpcResponse
	var err error
	c := n.ctrl
	switch req.Op {
	case rpcRegister:
		resp.Epoch, err = c.register(ctx, req)
	case rpcHeartbeat:
		err = c.heartbeat(ctx, req)
	case rpcShutdown:
		err = c.shutdown(ctx, req)
	case rpcCreateTopic:
		if req.Spec == nil {
			err = refuse(kerr.InvalidRequest, "create_topic without a spec")
			break
		}
		resp.Index, err = c.createTopic(ctx, req.Spec, req.ValidateOnly)
	case rpcDeleteTopic:
		resp.Index, err = c.deleteTopic(ctx, req.Topic)
	case rpcCreatePartitions:
		resp.Index, err = c.createPartitions(ctx, req.Topic, req.Total, req.ValidateOnly)
	case rpcSetConfigs:
		resp.Index, err = c.setConfigs(ctx, req.Topic, req.Configs)
	case rpcAlterPartition:
		var p Partition
		p, err = c.alterPartition(ctx, req)
		if err == nil {
			resp.Partition = &p
		}
	case rpcAllocatePIDs:
		resp.First, err = c.allocateProducerIDs(ctx, req.Count)
	default:
		err = refuse(kerr.InvalidRequest, "unknown op %q", req.Op)
	}
	var rerr *RequestError
	switch {
	case err == nil:
	case errors.As(err, &rerr):
		resp.Err = rerr
	case errors.Is(err, errNotActive):
		resp.NotController = err.Error()
	default:
		resp.NotController = err.Error() // a commit failure: let the sender retry
	}
	return resp
}

// brokerLoop registers this broker and heartbeats until ctx is done, then
// sends the controlled shutdown (bounded to controlledShutdownTimeout).
func (n *Node) brokerLoop(ctx context.Context) {
	var epoch int64
	t := time.NewTicker(n.set.heartbeat)
	defer t.Stop()
	for {
		if epoch == 0 {
			rctx, cancel := context.WithTimeout(ctx, n.set.session)
			resp, err := n.call(rctx, &rpcRequest{Op: rpcRegister, Host: n.cfg.BrokerHost, Port: n.cfg.BrokerPort, BrokerEpoch: time.Now().UnixMilli()})
			cancel()
			if err == nil {
				epoch = resp.Epoch
				n.brokerEpoch.Store(epoch)
				n.log.Info("broker registered with the controller", "broker_epoch", epoch)
			} else if ctx.Err() == nil {
				n.log.Debug("registering with the controller failed; retrying", "err", err)
			}
		}
		if epoch != 0 {
			// A slow heartbeat may take longer than the interval (the
			// ticker then skips); only a third of the session is too long.
			hctx, cancel := context.WithTimeout(ctx, max(n.set.heartbeat, n.set.session/3))
			_, err := n.call(hctx, &rpcRequest{Op: rpcHeartbeat, BrokerEpoch: epoch})
			cancel()
			if errors.Is(err, kerr.StaleBrokerEpoch) || errors.Is(err, kerr.BrokerIDNotRegistered) {
				n.log.Warn("controller does not know this broker incarnation; registering again", "err", err)
				epoch = 0
				continue
			} else if err != nil && ctx.Err() == nil {
				n.log.Debug("heartbeat failed", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			n.controlledShutdown(ctx, epoch)
			return
		case <-t.C:
		}
	}
}

// controlledShutdownTimeout bounds the goodbye to the controller.
const controlledShutdownTimeout = 3 * time.Second

func (n *Node) controlledShutdown(ctx context.Context, epoch int64) {
	if epoch == 0 || n.skipControlledShutdown.Load() {
		return
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), controlledShutdownTimeout)
	defer cancel()
	if _, err := n.call(sctx, &rpcRequest{Op: rpcShutdown, BrokerEpoch: epoch}); err != nil {
		n.log.Warn("controlled shutdown failed; the controller will fence this broker after the session timeout", "err", err)
		return
	}
	n.log.Info("controlled shutdown done")
}
