package chaos

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Proxy modes.
const (
	// Forward copies bytes both ways.
	Forward int32 = iota
	// BlackHole accepts connections and keeps them open but forwards
	// nothing in either direction: a network partition that does not
	// reset connections.
	BlackHole
	// HoldReplies forwards client to server but nothing back: requests
	// arrive, their replies (a PubAck) never do.
	HoldReplies
)

// Proxy is a TCP proxy on loopback whose forwarding can be switched off
// without closing connections.
type Proxy struct {
	Addr   string
	target string
	ln     net.Listener
	mode   atomic.Int32
	shut   atomic.Bool
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	wg     sync.WaitGroup
}

// StartProxy listens on a free loopback port and forwards to target.
func StartProxy(target string) (*Proxy, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{Addr: ln.Addr().String(), target: target, ln: ln, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// SetMode switches between Forward, BlackHole and HoldReplies. Returning
// to Forward resumes the copying of held bytes.
func (p *Proxy) SetMode(m int32) { p.mode.Store(m) }

// Close stops listening and closes every connection.
func (p *Proxy) Close() {
	p.shut.Store(true)
	_ = p.ln.Close()
	p.mu.Lock()
	for c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *Proxy) track(c net.Conn, add bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if add {
		p.conns[c] = struct{}{}
	} else {
		delete(p.conns, c)
	}
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.wg.Add(1)
		go p.serve(c)
	}
}

func (p *Proxy) serve(client net.Conn) {
	defer p.wg.Done()
	d := net.Dialer{Timeout: 2 * time.Second}
	server, err := d.DialContext(context.Background(), "tcp", p.target)
	if err != nil {
		_ = client.Close()
		return
	}
	p.track(client, true)
	p.track(server, true)
	defer func() {
		_ = client.Close()
		_ = server.Close()
		p.track(client, false)
		p.track(server, false)
	}()
	done := make(chan struct{}, 2)
	go func() { p.pipe(server, client, false); done <- struct{}{} }()
	go func() { p.pipe(client, server, true); done <- struct{}{} }()
	<-done
}

// pipe copies src to dst, holding each chunk while the mode says this
// direction must not flow.
func (p *Proxy) pipe(dst, src net.Conn, reply bool) {
	defer func() { _ = dst.Close(); _ = src.Close() }()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			for p.blocked(reply) {
				time.Sleep(5 * time.Millisecond) // a held link: wait for Forward
				if p.shut.Load() {
					return
				}
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return // io.EOF or a closed connection
		}
	}
}

func (p *Proxy) blocked(reply bool) bool {
	switch p.mode.Load() {
	case BlackHole:
		return true
	case HoldReplies:
		return reply
	}
	return false
}
