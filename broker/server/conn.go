package server

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/sluicehq/sluice/broker/kafkaproto"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// maxInFlight bounds the requests read but not yet answered on one
// connection; the reader stops reading when it is reached (backpressure).
const maxInFlight = 128

// conn is one client connection: a reader goroutine that decodes requests
// and starts their handlers, and a writer goroutine that writes responses
// in request order.
type conn struct {
	s      *Server
	nc     net.Conn
	remote string
	log    *slog.Logger

	slots    chan *slot // requests in arrival order, for the writer
	handlers sync.WaitGroup

	writeFailed string // set by the writer before it exits: why it closed the socket

	// principal is who the connection acts as for ACLs: User:ANONYMOUS,
	// the TLS client certificate's subject, or the SASL user. Written by
	// the reader goroutine only (handshake, SaslAuthenticate) before the
	// requests it authorizes are dispatched.
	principal string
	// SASL state, reader goroutine only (see auth.go).
	authed    bool           // SASL succeeded
	saslMech  string         // chosen by SaslHandshake
	saslRaw   bool           // SaslHandshake v0: the next frames are raw tokens
	scram     *scramExchange // SCRAM exchange in progress
	scramUser string
}

// slot is one request awaiting its response. The handler fills resp and
// closes done; the writer waits on done in slot order.
type slot struct {
	corr int32
	done chan struct{}
	resp kmsg.Response
	kill bool   // close the connection instead of answering (handler failure)
	raw  []byte // a raw SASL token (SaslHandshake v0) instead of resp
}

func newConn(s *Server, nc net.Conn) *conn {
	remote := nc.RemoteAddr().String()
	return &conn{
		s: s, nc: nc, remote: remote,
		log:       s.log.With("client_addr", remote),
		slots:     make(chan *slot, maxInFlight),
		principal: anonymousPrincipal,
	}
}

// stopReading makes the reader stop at its next frame boundary (or now, if
// it is blocked reading); requests already read are still answered.
func (c *conn) stopReading() { _ = c.nc.SetReadDeadline(time.Now()) }

// serve runs the connection until the peer leaves, a request is malformed,
// or the server stops. It returns after both goroutines have exited and the
// socket is closed.
func (c *conn) serve(ctx context.Context) {
	c.log.Debug("connection opened")
	if tc, ok := c.nc.(*tls.Conn); ok {
		if !c.tlsHandshake(ctx, tc) {
			_ = c.nc.Close()
			c.s.metrics.closed.WithLabelValues(closeTLS).Inc()
			return
		}
	}
	c.s.metrics.connections.Inc()
	c.s.metrics.connectionsTotal.Inc()
	var writer sync.WaitGroup
	writer.Go(c.writeLoop)
	reason := c.readLoop(ctx)
	close(c.slots) // the writer drains what was read, then exits
	writer.Wait()
	c.handlers.Wait()
	_ = c.nc.Close()
	if c.writeFailed != "" {
		reason = c.writeFailed
	}
	c.s.metrics.connections.Dec()
	c.s.metrics.closed.WithLabelValues(reason).Inc()
	c.log.Debug("connection closed", "reason", reason)
}

// readLoop reads requests until EOF, an error or stopReading, and returns
// why it stopped (a closeX reason).
func (c *conn) readLoop(ctx context.Context) string {
	fr := kafkaproto.NewFrameReader(c.nc, c.s.maxRequestBytes())
	for {
		// Before SASL succeeds only small frames are read (Kafka's
		// sasl.server.max.receive.size), so an unauthenticated peer cannot
		// make the broker allocate socket.request.max.bytes.
		if c.s.saslRequired() && !c.authed {
			fr.SetMax(min(preAuthMaxBytes, c.s.maxRequestBytes()))
		} else {
			fr.SetMax(c.s.maxRequestBytes())
		}
		select {
		case <-c.s.stopping:
			return closeEOF
		default:
		}
		frame, err := fr.Next()
		if err != nil {
			var ne net.Error
			switch {
			case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
				return closeEOF
			case errors.As(err, &ne) && ne.Timeout():
				return closeEOF // stopReading at shutdown
			case errors.Is(err, kafkaproto.ErrFrameTooLarge), errors.Is(err, kafkaproto.ErrNegativeFrameSize):
				c.log.Warn("closing connection: request frame refused", "err", err)
				return closeTooLarge
			default:
				c.log.Debug("closing connection: read failed", "err", err)
				return closeIOError
			}
		}
		if c.saslRaw {
			if reason := c.rawSASL(frame); reason != "" {
				return reason
			}
			continue
		}
		req, err := kafkaproto.DecodeRequest(frame)
		if err != nil {
			var unsupported *kafkaproto.UnsupportedError
			if errors.As(err, &unsupported) && unsupported.Header.APIKey == int16(kmsg.ApiVersions) {
				// Answer so the client can pick a version we speak.
				sl := &slot{corr: unsupported.Header.CorrelationID, done: make(chan struct{})}
				sl.resp = apiVersionsUnsupported()
				close(sl.done)
				c.slots <- sl
				continue
			}
			c.log.Warn("closing connection: bad request", "err", err)
			return closeMalformed
		}
		if handled, reason := c.authGate(req.Header.CorrelationID, req.Body); reason != "" {
			return reason
		} else if handled {
			continue
		}
		if !c.dispatch(ctx, req) {
			return closeAcks0
		}
	}
}

// dispatch starts the handler for req. Produce runs inline, so one
// connection's produce requests reach the partitions in request order; all
// other requests run concurrently. It returns false to close the
// connection after the requests already read are answered.
func (c *conn) dispatch(ctx context.Context, req *kafkaproto.Request) bool {
	rc := &reqContext{clientID: req.Header.ClientID, remote: c.remote, log: c.log, principal: c.principal}
	api := apiName(req.Body.Key())
	start := time.Now()
	done := func() {
		c.s.metrics.requests.WithLabelValues(api).Inc()
		c.s.metrics.duration.WithLabelValues(api).Observe(time.Since(start).Seconds())
	}
	if p, ok := req.Body.(*kmsg.ProduceRequest); ok {
		if p.Acks == 0 {
			failed := false
			rc.closeAfter = func() { failed = true }
			c.s.produce(ctx, rc, p) // no response, by protocol
			done()
			if failed {
				c.log.Debug("closing connection: acks=0 produce failed")
				return false
			}
			return true
		}
		sl := &slot{corr: req.Header.CorrelationID, done: make(chan struct{})}
		c.slots <- sl
		sl.resp = c.s.produce(ctx, rc, p)
		done()
		close(sl.done)
		return true
	}
	sl := &slot{corr: req.Header.CorrelationID, done: make(chan struct{})}
	c.slots <- sl
	c.handlers.Go(func() {
		defer close(sl.done)
		resp, err := c.s.handle(ctx, rc, req.Body)
		done()
		if err != nil {
			c.log.Warn("closing connection: handler failed", "api", api, "err", err)
			sl.kill = true
			return
		}
		sl.resp = resp
	})
	return true
}

// writeLoop writes responses in slot order. After a write error or a
// killed slot it closes the socket (which ends the reader) and keeps
// draining so the reader never blocks on a full slots channel.
func (c *conn) writeLoop() {
	var buf []byte
	broken := false
	for sl := range c.slots {
		<-sl.done
		if broken {
			continue
		}
		if sl.raw != nil {
			buf = binary.BigEndian.AppendUint32(buf[:0], uint32(len(sl.raw)))
			buf = append(buf, sl.raw...)
		} else if sl.kill || sl.resp == nil {
			broken = true
			c.writeFailed = closeHandler
			_ = c.nc.Close()
			continue
		} else {
			buf = kafkaproto.AppendResponse(buf[:0], sl.corr, sl.resp)
		}
		select {
		case <-c.s.stopping:
			_ = c.nc.SetWriteDeadline(time.Now().Add(shutdownWriteTimeout))
		default:
		}
		if _, err := c.nc.Write(buf); err != nil {
			c.log.Debug("closing connection: write failed", "err", err)
			broken = true
			c.writeFailed = closeIOError
			_ = c.nc.Close()
		}
		if cap(buf) > 1<<20 {
			buf = nil // do not pin one large fetch response per idle connection
		}
	}
}

// reqContext is what handlers know about the requesting connection.
type reqContext struct {
	clientID *string
	remote   string
	log      *slog.Logger
	// principal is the authenticated identity (User:name), for ACLs.
	principal string
	// closeAfter, when set, asks the connection to close once the
	// requests already read are answered (acks=0 produce failures).
	closeAfter func()
}

// apiVersionsUnsupported is the v0 response Kafka sends to an ApiVersions
// request of a version it does not know: UNSUPPORTED_VERSION plus the
// supported versions, so the client can retry with one.
func apiVersionsUnsupported() kmsg.Response {
	r := kmsg.NewPtrApiVersionsResponse()
	r.SetVersion(0)
	r.ErrorCode = kerr.UnsupportedVersion.Code
	r.ApiKeys = kafkaproto.APIVersionsKeys()
	return r
}
