package cluster

import (
	"bufio"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"
)

// TestMuxRoutesByFirstByte: a connection opening with rpcMagic is served as
// controller RPC (a bad frame gets INVALID_REQUEST, a good one the
// handler's answer); any other first byte reaches Raft's Accept with the
// byte intact.
func TestMuxRoutesByFirstByte(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := newMux(ln, ln.Addr().String(), slog.New(slog.DiscardHandler))
	m.serveRPC = func(c net.Conn) {
		serveRPCConn(c, func(req *rpcRequest) rpcResponse { return rpcResponse{First: int64(req.BrokerID) * 10} })
	}
	stream := newStreamLayer(m)
	m.start()
	defer m.close()

	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte{rpcMagic}); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	roundTrip := func(body string) rpcResponse {
		t.Helper()
		if err := writeFrame(c, []byte(body)); err != nil {
			t.Fatal(err)
		}
		b, err := readFrame(br, maxFrame)
		if err != nil {
			t.Fatal(err)
		}
		var resp rpcResponse
		if err := json.Unmarshal(b, &resp); err != nil {
			t.Fatal(err)
		}
		return resp
	}
	if resp := roundTrip(`{"op":"nope","broker_id":1}`); resp.Err == nil || resp.Err.Code != 42 {
		t.Fatalf("bad op answered %+v, want INVALID_REQUEST", resp)
	}
	if resp := roundTrip(`{"op":"heartbeat","broker_id":4}`); resp.First != 40 {
		t.Fatalf("heartbeat answered %+v", resp)
	}

	r, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := r.Write([]byte{3, 'x', 'y'}); err != nil {
		t.Fatal(err)
	}
	got, err := stream.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer got.Close()
	_ = got.SetDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 3)
	if _, err := io.ReadFull(got, buf); err != nil || string(buf) != "\x03xy" {
		t.Fatalf("raft side read %q, %v", buf, err)
	}
	if stream.Addr().String() != ln.Addr().String() {
		t.Fatalf("Addr = %s", stream.Addr())
	}
}
