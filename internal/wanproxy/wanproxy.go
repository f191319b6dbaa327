// Package wanproxy is a TCP proxy on loopback that makes a link slow and
// counts what crosses it: each byte is delayed by a one-way delay in each
// direction and, with a rate, let through no faster than the rate. The
// benchmarks' WAN figures put both ends of every comparison behind the
// same proxy; the tests count the bytes a node received through it.
package wanproxy

import (
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Proxy forwards connections to a target.
type Proxy struct {
	ln     net.Listener
	target string
	delay  time.Duration
	mu     sync.Mutex
	rate   int64 // bits per second; 0 for no limit
	wg     sync.WaitGroup
	up     atomic.Int64 // bytes to the target
	down   atomic.Int64 // bytes from it
}

// Start listens on a free loopback port and forwards each connection to
// target, with delay each way.
func Start(target string, delay time.Duration) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{ln: ln, target: target, delay: delay}
	p.wg.Add(1)
	go p.serve()
	return p, nil
}

// SetRate limits the bandwidth of connections made from now on, in bits
// a second; 0 for none.
func (p *Proxy) SetRate(bps int64) {
	p.mu.Lock()
	p.rate = bps
	p.mu.Unlock()
}

// Port is the proxy's port on 127.0.0.1.
func (p *Proxy) Port() int { return p.ln.Addr().(*net.TCPAddr).Port }

// Sent is how many bytes went to the target so far, Received how many
// came back.
func (p *Proxy) Sent() int64     { return p.up.Load() }
func (p *Proxy) Received() int64 { return p.down.Load() }

// Close stops listening; connections already made run to their end.
func (p *Proxy) Close() { p.ln.Close(); p.wg.Wait() }

func (p *Proxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		rate := p.rate
		p.mu.Unlock()
		go p.pump(s, c, rate, &p.up)
		go p.pump(c, s, rate, &p.down)
	}
}

type chunk struct {
	at time.Time
	b  []byte
}

// pump copies src to dst, each chunk written delay after it was read; with
// a rate, a chunk also waits for the link to be free of the chunks before
// it, as on a link of that bandwidth.
func (p *Proxy) pump(dst, src net.Conn, rate int64, count *atomic.Int64) {
	ch := make(chan chunk, 256)
	go func() {
		defer close(ch)
		for {
			buf := make([]byte, 16<<10)
			n, err := src.Read(buf)
			if n > 0 {
				ch <- chunk{at: time.Now(), b: buf[:n]}
			}
			if err != nil {
				return
			}
		}
	}()
	var free time.Time // when the link has sent what came before
	for c := range ch {
		due := c.at.Add(p.delay)
		if rate > 0 {
			start := c.at
			if free.After(start) {
				start = free
			}
			free = start.Add(time.Duration(int64(len(c.b)) * 8 * int64(time.Second) / rate))
			due = free.Add(p.delay)
		}
		time.Sleep(time.Until(due))
		if _, err := dst.Write(c.b); err != nil {
			break
		}
		count.Add(int64(len(c.b)))
	}
	if tc, ok := dst.(*net.TCPConn); ok {
		tc.CloseWrite()
	}
	for range ch {
	}
	src.Close()
}
