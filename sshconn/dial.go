// Package sshconn connects to nodes: it dials SSH with a context and a
// timeout, through each jump host in turn, authenticates with the deploy
// file's identity, ssh_config's or ssh-agent, and checks every host key, a
// jump host's as a node's, against known_hosts, refusing unknown keys
// unless the operator accepts them and changed keys always. It reads host
// keys for conc hostkeys without logging in. Where to connect is
// sshtarget's to resolve.
package sshconn

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/concdeploy/conc/config"
	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// Network timeouts. Every network wait has one.
const (
	DefaultConnectTimeout = 15 * time.Second
	keepAliveEvery        = 10 * time.Second
	keepAliveMisses       = 3
)

// DialOptions tune Dial.
type DialOptions struct {
	ConnectTimeout    time.Duration // 0: the target's (ssh_config's ConnectTimeout), else DefaultConnectTimeout
	AcceptNewHostKeys bool
	// Recorded, when set, hears of each key AcceptNewHostKeys recorded, so
	// that the operator is told what was trusted. It may be called from
	// several dials at once.
	Recorded func(HostKey)
}

// Conn is an SSH connection to one node, through its jump hosts if it has
// any, with its SFTP client made on first use. A keepalive closes it when
// the node stops answering, so a dead network shows up as an error instead
// of a hang. Closing it closes every hop.
type Conn struct {
	Target Target
	Client *ssh.Client

	hops      []*ssh.Client // the jump hosts', in order; the node's is dialled through the last
	timeout   time.Duration
	closeAuth []func()
	ctx       context.Context // ends with Close
	cancel    context.CancelFunc
	wg        sync.WaitGroup

	fwdMu sync.Mutex
	fwd   *forward // made by ForwardSSH

	sftpOnce sync.Once
	sftp     *sftp.Client
	sftpErr  error
}

// Dial connects to the node, through each of its jump hosts in turn, and
// verifies every host key, the hops' as the node's, against known_hosts.
func Dial(ctx context.Context, t Target, opts DialOptions) (*Conn, error) {
	c := newConn(t, opts)
	var via *ssh.Client
	for i, h := range t.Jumps {
		hc, err := c.dialOne(ctx, via, t.Name, h, opts)
		if err != nil {
			c.closeAll()
			return nil, hopError(t, i, err)
		}
		c.hops = append(c.hops, hc)
		via = hc
	}
	client, err := c.dialOne(ctx, via, t.Name, t, opts)
	if err != nil {
		c.closeAll()
		var hk *HostKeyError
		if errors.As(err, &hk) {
			return nil, hk
		}
		return nil, fmt.Errorf("connect to %s (%s@%s)%s: %w", t.Name, t.User, t.Addr, through(t.Jumps), err)
	}
	c.Client = client
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.wg.Add(1)
	go c.keepAlive(c.ctx)
	return c, nil
}

// newConn is a Conn not yet dialled, with its connect timeout: the
// option's, else the target's (ssh_config's ConnectTimeout), else conc's.
func newConn(t Target, opts DialOptions) *Conn {
	c := &Conn{Target: t, timeout: opts.ConnectTimeout}
	if c.timeout <= 0 {
		c.timeout = t.ConnectTimeout
	}
	if c.timeout <= 0 {
		c.timeout = DefaultConnectTimeout
	}
	return c
}

// hopError names the node and the hop that failed.
func hopError(t Target, i int, err error) error {
	h := t.Jumps[i]
	var hk *HostKeyError
	if errors.As(err, &hk) {
		return fmt.Errorf("connect to %s through %s: %w", t.Name, h.Name, hk)
	}
	return fmt.Errorf("connect to %s through %s (%s@%s): %w", t.Name, h.Name, h.User, h.Addr, err)
}

func through(hops []Target) string {
	if len(hops) == 0 {
		return ""
	}
	names := make([]string, len(hops))
	for i, h := range hops {
		names[i] = h.Name
	}
	return " through " + strings.Join(names, ", ")
}

// dialOne dials t, directly or through via, and does the SSH handshake
// with t's key and known_hosts, every wait bounded by ctx and the timeout.
func (c *Conn) dialOne(ctx context.Context, via *ssh.Client, node string, t Target, opts DialOptions) (*ssh.Client, error) {
	keys, err := newHostKeys(t.KnownHosts, t.Name, opts.AcceptNewHostKeys)
	if err != nil {
		return nil, err
	}
	if opts.Recorded != nil {
		keys.recorded = func(key ssh.PublicKey) {
			opts.Recorded(HostKey{Node: node, Host: t.Name, Addr: t.Addr, Key: key,
				Fingerprint: ssh.FingerprintSHA256(key), KnownHosts: t.KnownHosts, State: KeyNew})
		}
	}
	a, err := authMethods(t.Identity, t.WithAgent)
	if err != nil {
		return nil, err
	}
	c.closeAuth = append(c.closeAuth, a.close)
	cfg := &ssh.ClientConfig{
		User:              t.User,
		Auth:              a.methods,
		HostKeyCallback:   keys.callback,
		HostKeyAlgorithms: keys.algorithms(t.Addr),
		Timeout:           c.timeout,
	}
	nc, err := c.dialTCP(ctx, via, t.Addr)
	if err != nil {
		return nil, err
	}
	client, err := handshake(ctx, nc, t.Addr, cfg, c.timeout)
	if isAuthRefused(err) {
		return nil, &AuthError{Host: t.Name, User: t.User, Tried: a.tried, Err: err}
	}
	return client, err
}

// dialTCP opens a TCP connection to addr: from here, or from the jump
// host via (a direct-tcpip channel, addr resolved there).
func (c *Conn) dialTCP(ctx context.Context, via *ssh.Client, addr string) (net.Conn, error) {
	if via == nil {
		d := net.Dialer{Timeout: c.timeout}
		nc, err := d.DialContext(ctx, "tcp", addr)
		if tc, ok := nc.(*net.TCPConn); ok {
			tc.SetNoDelay(true)
		}
		return nc, err
	}
	dctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	nc, err := via.DialContext(dctx, "tcp", addr)
	if err != nil && ctx.Err() == nil && dctx.Err() != nil {
		return nil, fmt.Errorf("open a channel to %s: no answer within %v", addr, c.timeout)
	}
	return nc, err
}

// handshake does the SSH handshake on nc, bounded by ctx and the timeout:
// nc is closed when either ends first. ssh.Dial alone would ignore ctx,
// and a channel through a jump host has no deadlines.
func handshake(ctx context.Context, nc net.Conn, addr string, cfg *ssh.ClientConfig, timeout time.Duration) (*ssh.Client, error) {
	hctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	stop := context.AfterFunc(hctx, func() { nc.Close() })
	sc, chans, reqs, err := ssh.NewClientConn(nc, addr, cfg)
	if !stop() {
		// nc was closed under the handshake, whatever it returned.
		if sc != nil {
			sc.Close()
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("no SSH handshake within %v", timeout)
	}
	if err != nil {
		nc.Close()
		return nil, err
	}
	return ssh.NewClient(sc, chans, reqs), nil
}

// keepAlive asks the node for a reply every keepAliveEvery and closes the
// connection after keepAliveMisses unanswered intervals.
func (c *Conn) keepAlive(ctx context.Context) {
	defer c.wg.Done()
	t := time.NewTicker(keepAliveEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		replied := make(chan struct{})
		go func() {
			c.Client.SendRequest("keepalive@openssh.com", true, nil)
			close(replied)
		}()
		select {
		case <-replied:
		case <-ctx.Done():
			return
		case <-time.After(keepAliveEvery * keepAliveMisses):
			c.Client.Close()
			return
		}
	}
}

// SFTP returns the connection's SFTP client, opening it on first use with
// concurrent reads and writes on, for bulk transfer.
func (c *Conn) SFTP() (*sftp.Client, error) {
	c.sftpOnce.Do(func() {
		c.sftp, c.sftpErr = sftp.NewClient(c.Client,
			sftp.UseConcurrentWrites(true),
			sftp.UseConcurrentReads(true),
			sftp.MaxConcurrentRequestsPerFile(64),
		)
		if c.sftpErr != nil {
			c.sftpErr = fmt.Errorf("open SFTP to %s: %w", c.Target.Name, c.sftpErr)
		}
	})
	return c.sftp, c.sftpErr
}

// Close closes the SFTP client, the forward, the connection and every
// hop, and stops the keepalive.
func (c *Conn) Close() error {
	c.cancel()
	if c.sftp != nil {
		c.sftp.Close()
	}
	c.closeForward()
	err := c.Client.Close()
	c.closeAll()
	c.wg.Wait()
	return err
}

// closeAll closes the hops, last first, and the auth agents' connections.
func (c *Conn) closeAll() {
	for i := len(c.hops) - 1; i >= 0; i-- {
		c.hops[i].Close()
	}
	c.hops = nil
	for _, f := range c.closeAuth {
		f()
	}
	c.closeAuth = nil
}

// Connect dials a node of a deploy file, for commands that work on a node
// outside a run (status, unlock, bundle, ssh).
func Connect(ctx context.Context, f *config.File, n *config.Node, opts DialOptions) (*Conn, error) {
	t, err := TargetOf(n, f.Dir)
	if err != nil {
		return nil, err
	}
	return Dial(ctx, t, opts)
}
