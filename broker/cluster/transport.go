package cluster

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// One TCP listener carries Raft and the controller RPCs. The first byte of
// every accepted connection decides: rpcMagic starts a controller RPC
// connection; anything else is a Raft connection (hashicorp/raft's
// NetworkTransport opens each connection with its RPC type, 0-4), handed to
// Raft with that byte put back.
const (
	// rpcMagic opens a controller RPC connection. Raft's first byte is
	// an rpc type 0..4, so 0xC5 can never be confused with it.
	rpcMagic byte = 0xC5
	// firstByteTimeout bounds how long an accepted connection may stay
	// silent before it is routed.
	firstByteTimeout = 10 * time.Second
)

// mux accepts connections on the controller listener and routes them.
type mux struct {
	ln        net.Listener
	advertise string
	log       *slog.Logger
	serveRPC  func(net.Conn) // blocks while the connection is served
	raftConns chan net.Conn

	closeOnce sync.Once
	closed    chan struct{}
	wg        sync.WaitGroup // accept loop and every routing/serving goroutine

	mu    sync.Mutex
	conns map[net.Conn]struct{} // open accepted connections, closed at shutdown
}

func newMux(ln net.Listener, advertise string, log *slog.Logger) *mux {
	return &mux{ln: ln, advertise: advertise, log: log, raftConns: make(chan net.Conn), closed: make(chan struct{}), conns: map[net.Conn]struct{}{}}
}

// start runs the accept loop until close.
func (m *mux) start() {
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		m.acceptLoop()
	}()
}

func (m *mux) acceptLoop() {
	for {
		c, err := m.ln.Accept()
		if err != nil {
			select {
			case <-m.closed:
				return
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			m.log.Warn("controller listener accept failed", "err", err)
			select {
			case <-m.closed:
				return
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		if !m.track(c) {
			_ = c.Close()
			return
		}
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			m.route(c)
		}()
	}
}

func (m *mux) track(c net.Conn) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	select {
	case <-m.closed:
		return false
	default:
	}
	m.conns[c] = struct{}{}
	return true
}

func (m *mux) untrack(c net.Conn) {
	m.mu.Lock()
	delete(m.conns, c)
	m.mu.Unlock()
}

// route reads the first byte of c and hands it to the RPC server or Raft.
func (m *mux) route(c net.Conn) {
	var first [1]byte
	_ = c.SetReadDeadline(time.Now().Add(firstByteTimeout))
	if _, err := io.ReadFull(c, first[:]); err != nil {
		m.untrack(c)
		_ = c.Close()
		return
	}
	_ = c.SetReadDeadline(time.Time{})
	if first[0] == rpcMagic {
		m.serveRPC(c)
		m.untrack(c)
		_ = c.Close()
		return
	}
	pc := &peekedConn{Conn: c, first: first[0], m: m}
	select {
	case m.raftConns <- pc:
	case <-m.closed:
		_ = pc.Close()
	}
}

// close stops accepting, closes every accepted connection and waits for
// every goroutine of the mux. It closes the listener.
func (m *mux) close() {
	m.closeOnce.Do(func() {
		m.mu.Lock()
		close(m.closed)
		for c := range m.conns {
			_ = c.Close()
		}
		m.mu.Unlock()
		_ = m.ln.Close()
	})
	m.wg.Wait()
}

// peekedConn is a Raft connection whose first byte was read by the mux.
type peekedConn struct {
	net.Conn
	m      *mux
	first  byte
	peeked bool // first already returned; only Raft's one reader goroutine reads
	once   sync.Once
}

func (p *peekedConn) Read(b []byte) (int, error) {
	if !p.peeked && len(b) > 0 {
		p.peeked = true
		b[0] = p.first
		return 1, nil
	}
	return p.Conn.Read(b)
}

func (p *peekedConn) Close() error {
	var err error
	p.once.Do(func() {
		p.m.untrack(p.Conn)
		err = p.Conn.Close()
	})
	return err
}

// streamLayer is raft.StreamLayer over the mux.
type streamLayer struct {
	m         *mux
	closeOnce sync.Once
	closed    chan struct{}
}

var _ raft.StreamLayer = (*streamLayer)(nil)

func newStreamLayer(m *mux) *streamLayer { return &streamLayer{m: m, closed: make(chan struct{})} }

// errStreamClosed is what Accept returns once Raft's transport closed.
var errStreamClosed = errors.New("cluster: raft stream layer closed")

func (s *streamLayer) Accept() (net.Conn, error) {
	select {
	case c := <-s.m.raftConns:
		return c, nil
	case <-s.closed:
		return nil, errStreamClosed
	case <-s.m.closed:
		return nil, errStreamClosed
	}
}

// Close is called by Raft's transport; the listener itself belongs to the
// mux.
func (s *streamLayer) Close() error {
	s.closeOnce.Do(func() { close(s.closed) })
	return nil
}

// Addr is the advertised voter address, the one in the Raft configuration.
func (s *streamLayer) Addr() net.Addr { return advertisedAddr(s.m.advertise) }

func (s *streamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	d := net.Dialer{Timeout: timeout}
	return d.Dial("tcp", string(address))
}

type advertisedAddr string

func (a advertisedAddr) Network() string { return "tcp" }
func (a advertisedAddr) String() string  { return string(a) }
