package sshconn

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// forward is a listener on 127.0.0.1 whose connections conc carries, over
// a direct-tcpip channel of the last jump host, to the node's sshd.
type forward struct {
	ln  net.Listener
	via *ssh.Client // the last jump host

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
}

// ForwardSSH makes, on first use, a local forward to the node's sshd
// through its jump hosts, so that a program that cannot use conc's
// connection, such as sshfs, reaches the node through the same hops, each
// host key checked by conc. It returns the forward's address (127.0.0.1:
// PORT) and the name the node's key has in known_hosts, which the program
// must check it under (OpenSSH's HostKeyAlias). For a node without jump
// hosts it returns "", "": connect to the node itself. The forward lasts
// until Close. Any local user may connect to it, as to ssh -L's; what it
// reaches is the node's sshd, which still asks for the key.
func (c *Conn) ForwardSSH() (addr, hostKeyAlias string, err error) {
	if len(c.Target.Jumps) == 0 {
		return "", "", nil
	}
	c.fwdMu.Lock()
	defer c.fwdMu.Unlock()
	if c.ctx.Err() != nil {
		return "", "", fmt.Errorf("forward to %s: the connection is closed", c.Target.Name)
	}
	if c.fwd == nil {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", "", fmt.Errorf("forward to %s: %w", c.Target.Name, err)
		}
		c.fwd = &forward{ln: ln, via: c.hops[len(c.hops)-1], conns: map[net.Conn]struct{}{}}
		c.wg.Add(1)
		go c.serveForward(c.fwd)
	}
	return c.fwd.ln.Addr().String(), knownhosts.Normalize(c.Target.Addr), nil
}

// serveForward accepts until the listener is closed.
func (c *Conn) serveForward(f *forward) {
	defer c.wg.Done()
	for {
		lc, err := f.ln.Accept()
		if err != nil {
			return
		}
		if !f.track(lc) {
			return
		}
		c.wg.Add(1)
		go c.carry(f, lc)
	}
}

// carry connects lc to the node's sshd through the last hop and copies
// both ways until either side ends, or the Conn is closed.
func (c *Conn) carry(f *forward, lc net.Conn) {
	defer c.wg.Done()
	defer f.untrack(lc)
	ctx, cancel := context.WithTimeout(c.ctx, c.timeout)
	rc, err := f.via.DialContext(ctx, "tcp", c.Target.Addr)
	cancel()
	if err != nil {
		return
	}
	if !f.track(rc) {
		return
	}
	defer f.untrack(rc)
	done := make(chan struct{})
	go func() {
		io.Copy(rc, lc)
		rc.Close()
		lc.Close()
		close(done)
	}()
	io.Copy(lc, rc)
	lc.Close()
	rc.Close()
	<-done
}

// track records a connection to close with the forward; false, having
// closed it, when the forward is closed already.
func (f *forward) track(nc net.Conn) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		nc.Close()
		return false
	}
	f.conns[nc] = struct{}{}
	return true
}

func (f *forward) untrack(nc net.Conn) {
	nc.Close()
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.conns, nc)
}

// closeForward closes the forward's listener and connections; Close waits
// for its goroutines.
func (c *Conn) closeForward() {
	c.fwdMu.Lock()
	f := c.fwd
	c.fwdMu.Unlock()
	if f == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	f.ln.Close()
	for nc := range f.conns {
		nc.Close()
	}
}
