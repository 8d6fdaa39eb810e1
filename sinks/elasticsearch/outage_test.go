package elasticsearch

import (
	"context"
	"errors"
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/connectors"
)

// cutProxy forwards TCP connections to target until cut: then it closes
// every open connection and every new one at once, until restored.
type cutProxy struct {
	ln      net.Listener
	target  string
	mu      sync.Mutex
	cut     bool
	conns   map[net.Conn]struct{}
	refused int // connections closed at once while cut
	wg      sync.WaitGroup
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

func (p *cutProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.cut {
			p.refused++
			p.mu.Unlock()
			_ = c.Close()
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			p.mu.Unlock()
			_ = c.Close()
			continue
		}
		p.conns[c], p.conns[up] = struct{}{}, struct{}{}
		p.wg.Add(2)
		p.mu.Unlock()
		pipe := func(dst, src net.Conn) {
			defer p.wg.Done()
			_, _ = io.Copy(dst, src)
			_ = dst.Close()
			_ = src.Close()
			p.mu.Lock()
			delete(p.conns, dst)
			delete(p.conns, src)
			p.mu.Unlock()
		}
		go pipe(c, up)
		go pipe(up, c)
	}
}

func (p *cutProxy) setCut(cut bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = cut
	if cut {
		for c := range p.conns {
			_ = c.Close()
		}
	}
}

func (p *cutProxy) close() {
	_ = p.ln.Close()
	p.setCut(true)
	p.wg.Wait()
}

func TestUnreachableLosesNothing(t *testing.T) {
	t.Parallel()
	u, alias := sharedES(t)
	eu, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	p := newCutProxy(t, eu.Host)
	ctx := context.Background()
	m := newLogModel()
	batch := func(from int) connectors.Batch {
		var rs []connectors.Record
		for id := from; id < from+20; id++ {
			rs = append(rs, m.put(0, id, doc(id, 1))...)
		}
		return connectors.Batch{Records: rs}
	}

	// Short retry budget: Write gives up, the runtime retries the batch.
	s := openSink(t, Config{URL: "http://" + p.ln.Addr().String(), Index: alias, RetryTimeout: 200 * time.Millisecond})
	if err := s.Write(ctx, batch(0)); err != nil {
		t.Fatal(err)
	}
	p.setCut(true)
	b := batch(100)
	for range 2 {
		err := s.Write(ctx, b)
		var be *connectors.BatchError
		if !errors.Is(err, ErrUnavailable) || errors.As(err, &be) {
			t.Fatalf("Write while cut = %v, want ErrUnavailable", err)
		}
	}
	if err := s.Check(ctx); err == nil {
		t.Errorf("Check while cut = nil")
	}
	p.setCut(false)
	if err := s.Write(ctx, b); err != nil {
		t.Fatalf("Write after restore: %v", err)
	}

	// Long retry budget: Write rides out the outage itself.
	s2 := openSink(t, Config{URL: "http://" + p.ln.Addr().String(), Index: alias, RetryTimeout: time.Minute})
	base := p.refusedCount()
	p.setCut(true)
	done := make(chan error, 1)
	b = batch(200)
	go func() { done <- s2.Write(ctx, b) }()
	for p.refusedCount() < base+2 { // Write is retrying
		time.Sleep(10 * time.Millisecond)
	}
	p.setCut(false)
	if err := <-done; err != nil {
		t.Fatalf("Write across the outage: %v", err)
	}
	if err := equalDocs(docs(t, u, alias), m.want); err != nil {
		t.Fatal(err)
	}
}

func (p *cutProxy) refusedCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.refused
}
