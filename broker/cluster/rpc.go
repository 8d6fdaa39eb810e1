package cluster

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// Controller RPC wire format. A client opens a TCP connection to a voter's
// controller address, writes rpcMagic once, then sends requests one at a
// time; each request and each response is one frame:
//
//	+----------------------+---------------------------+
//	| length (4, BE uint32)| JSON body (length bytes)  |
//	+----------------------+---------------------------+
//
// length is 1..maxFrame. Requests are rpcRequest, responses rpcResponse.
const (
	maxFrame       = 4 << 20
	rpcIdleTimeout = 5 * time.Minute
	rpcCallTimeout = 15 * time.Second // a call without a ctx deadline
	maxIdlePerAddr = 2
)

// RPC operations.
const (
	rpcRegister         = "register"
	rpcHeartbeat        = "heartbeat"
	rpcShutdown         = "shutdown"
	rpcCreateTopic      = "create_topic"
	rpcDeleteTopic      = "delete_topic"
	rpcCreatePartitions = "create_partitions"
	rpcSetConfigs       = "set_configs"
	rpcAlterPartition   = "alter_partition"
	rpcAllocatePIDs     = "allocate_producer_ids"
)

var rpcOps = map[string]bool{
	rpcRegister: true, rpcHeartbeat: true, rpcShutdown: true, rpcCreateTopic: true, rpcDeleteTopic: true,
	rpcCreatePartitions: true, rpcSetConfigs: true, rpcAlterPartition: true, rpcAllocatePIDs: true,
}

// rpcRequest is one controller request. BrokerID is the sending node.
type rpcRequest struct {
	Op             string            `json:"op"`
	BrokerID       int32             `json:"broker_id"`
	BrokerEpoch    int64             `json:"broker_epoch,omitempty"`
	Host           string            `json:"host,omitempty"`
	Port           int32             `json:"port,omitempty"`
	Spec           *TopicSpec        `json:"spec,omitempty"`
	ValidateOnly   bool              `json:"validate_only,omitempty"`
	Topic          string            `json:"topic,omitempty"`
	Total          int32             `json:"total,omitempty"`
	Configs        map[string]string `json:"configs,omitempty"`
	Partition      int32             `json:"partition,omitempty"`
	LeaderEpoch    int32             `json:"leader_epoch,omitempty"`
	PartitionEpoch int32             `json:"partition_epoch,omitempty"`
	ISR            []int32           `json:"isr,omitempty"`
	Count          int64             `json:"count,omitempty"`
}

// rpcResponse answers an rpcRequest. NotController set means the receiver
// could not act as controller (it says why) and the caller should retry at
// the current leader.
type rpcResponse struct {
	Err           *RequestError `json:"err,omitempty"`
	NotController string        `json:"not_controller,omitempty"`
	Index         uint64        `json:"index,omitempty"`
	Partition     *Partition    `json:"partition,omitempty"`
	First         int64         `json:"first,omitempty"`
	Epoch         int64         `json:"epoch,omitempty"`
}

// readFrame reads one length-prefixed frame of at most limit bytes.
func readFrame(r io.Reader, limit int) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n == 0 {
		return nil, fmt.Errorf("%w: empty frame", ErrBadFrame)
	}
	if uint64(n) > uint64(limit) {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrFrameTooLarge, n, limit)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return b, nil
}

// writeFrame writes body as one frame.
func writeFrame(w io.Writer, body []byte) error {
	if len(body) == 0 || len(body) > maxFrame {
		return fmt.Errorf("%w: %d bytes", ErrFrameTooLarge, len(body))
	}
	b := binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(body)), uint32(len(body)))
	_, err := w.Write(append(b, body...))
	return err
}

// decodeRequest decodes and checks a request body.
func decodeRequest(b []byte) (*rpcRequest, error) {
	var req rpcRequest
	if err := json.Unmarshal(b, &req); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadFrame, err)
	}
	if !rpcOps[req.Op] {
		return nil, fmt.Errorf("%w: unknown op %q", ErrBadFrame, req.Op)
	}
	if req.BrokerID <= 0 {
		return nil, fmt.Errorf("%w: broker id %d", ErrBadFrame, req.BrokerID)
	}
	return &req, nil
}

// serveRPCConn serves one controller RPC connection until it fails or is
// idle for rpcIdleTimeout. handle must not block beyond its own bounds.
func serveRPCConn(c net.Conn, handle func(*rpcRequest) rpcResponse) {
	br := bufio.NewReader(c)
	for {
		_ = c.SetReadDeadline(time.Now().Add(rpcIdleTimeout))
		b, err := readFrame(br, maxFrame)
		if err != nil {
			return
		}
		var resp rpcResponse
		req, err := decodeRequest(b)
		if err != nil {
			resp.Err = &RequestError{Code: 42, Msg: err.Error()} // INVALID_REQUEST
		} else {
			resp = handle(req)
		}
		out, err := json.Marshal(resp)
		if err != nil {
			return
		}
		_ = c.SetWriteDeadline(time.Now().Add(rpcCallTimeout))
		if err := writeFrame(c, out); err != nil {
			return
		}
	}
}

// rpcClient sends controller RPCs, keeping a few idle connections per
// address.
type rpcClient struct {
	mu     sync.Mutex
	idle   map[string][]net.Conn
	closed bool
}

func newRPCClient() *rpcClient { return &rpcClient{idle: map[string][]net.Conn{}} }

func (c *rpcClient) get(ctx context.Context, addr string) (net.Conn, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, ErrClosed
	}
	if l := c.idle[addr]; len(l) > 0 {
		conn := l[len(l)-1]
		c.idle[addr] = l[:len(l)-1]
		c.mu.Unlock()
		return conn, nil
	}
	c.mu.Unlock()
	d := net.Dialer{Timeout: 2 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if _, err := conn.Write([]byte{rpcMagic}); err != nil {
		_ = conn.Close()
		return nil, err
	}
	return conn, nil
}

func (c *rpcClient) put(addr string, conn net.Conn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || len(c.idle[addr]) >= maxIdlePerAddr {
		_ = conn.Close()
		return
	}
	c.idle[addr] = append(c.idle[addr], conn)
}

// do sends req to addr and returns the response. ctx bounds the call.
func (c *rpcClient) do(ctx context.Context, addr string, req *rpcRequest) (rpcResponse, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return rpcResponse{}, err
	}
	conn, err := c.get(ctx, addr)
	if err != nil {
		return rpcResponse{}, err
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(rpcCallTimeout)
	}
	_ = conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	var resp rpcResponse
	err = writeFrame(conn, body)
	if err == nil {
		var b []byte
		b, err = readFrame(conn, maxFrame)
		if err == nil {
			err = json.Unmarshal(b, &resp)
		}
	}
	if !stop() && err == nil {
		err = ctx.Err()
	}
	if err != nil {
		_ = conn.Close()
		return rpcResponse{}, fmt.Errorf("controller rpc %s to %s: %w", req.Op, addr, err)
	}
	_ = conn.SetDeadline(time.Time{})
	c.put(addr, conn)
	return resp, nil
}

func (c *rpcClient) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	for _, l := range c.idle {
		for _, conn := range l {
			_ = conn.Close()
		}
	}
	c.idle = nil
}
