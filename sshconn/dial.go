// Package sshconn connects to nodes: it dials SSH with a context and a
// timeout, authenticates with the deploy file's identity or ssh-agent, and
// checks every host key against known_hosts, refusing unknown keys unless
// the operator accepts them and changed keys always.
package sshconn

import (
	"context"
	"errors"
	"fmt"
	"net"
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
	ConnectTimeout    time.Duration
	AcceptNewHostKeys bool
}

// Conn is an SSH connection to one node, with its SFTP client made on first
// use. A keepalive closes it when the node stops answering, so a dead
// network shows up as an error instead of a hang.
type Conn struct {
	Target Target
	Client *ssh.Client

	closeAuth func()
	cancel    context.CancelFunc
	wg        sync.WaitGroup

	sftpOnce sync.Once
	sftp     *sftp.Client
	sftpErr  error
}

// Target is a node to connect to, with its paths resolved.
type Target struct {
	Name       string
	Addr       string // host:port
	User       string
	Identity   string // the private key file; "" means ssh-agent and the usual keys
	KnownHosts string
}

// TargetOf resolves a node's connection params. Paths are relative to the
// deploy file's directory dir; without identity, op_key names
// ~/.ssh/id_rsa-${op_key}.
func TargetOf(n *config.Node, dir string) (Target, error) {
	t := Target{Name: n.Name, Addr: n.Addr(), User: n.Admin()}
	var err error
	if t.KnownHosts, err = config.LocalPath(n.Get(config.KeyKnownHosts), dir); err != nil {
		return t, err
	}
	id := n.Get(config.KeyIdentity)
	if id == "" && n.Get(config.KeyOpKey) != "" {
		id = "~/.ssh/id_rsa-" + n.Get(config.KeyOpKey)
	}
	t.Identity, err = config.LocalPath(id, dir)
	return t, err
}

// Dial connects to the node and verifies its host key against known_hosts.
func Dial(ctx context.Context, t Target, opts DialOptions) (*Conn, error) {
	timeout := opts.ConnectTimeout
	if timeout <= 0 {
		timeout = DefaultConnectTimeout
	}
	keys, err := newHostKeys(t.KnownHosts, t.Name, opts.AcceptNewHostKeys)
	if err != nil {
		return nil, err
	}
	methods, closeAuth, err := authMethods(t.Identity)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", t.Name, err)
	}
	addr := t.Addr
	cfg := &ssh.ClientConfig{
		User:              t.User,
		Auth:              methods,
		HostKeyCallback:   keys.callback,
		HostKeyAlgorithms: keys.algorithms(addr),
		Timeout:           timeout,
	}
	client, err := dialClient(ctx, addr, cfg, timeout)
	if err != nil {
		closeAuth()
		var hk *HostKeyError
		if errors.As(err, &hk) {
			return nil, hk
		}
		return nil, fmt.Errorf("connect to %s (%s@%s): %w", t.Name, cfg.User, addr, err)
	}
	c := &Conn{Target: t, Client: client, closeAuth: closeAuth}
	kctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	c.wg.Add(1)
	go c.keepAlive(kctx)
	return c, nil
}

// dialClient dials TCP and does the SSH handshake, both bounded by ctx and
// the timeout; ssh.Dial alone would ignore ctx.
func dialClient(ctx context.Context, addr string, cfg *ssh.ClientConfig, timeout time.Duration) (*ssh.Client, error) {
	d := net.Dialer{Timeout: timeout}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	nc.SetDeadline(time.Now().Add(timeout))
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(time.Unix(1, 0)) })
	sc, chans, reqs, err := ssh.NewClientConn(nc, addr, cfg)
	stopped := stop()
	if err != nil {
		nc.Close()
		if !stopped {
			return nil, ctx.Err()
		}
		return nil, err
	}
	nc.SetDeadline(time.Time{})
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

// Close closes the SFTP client and the connection and stops the keepalive.
func (c *Conn) Close() error {
	c.cancel()
	if c.sftp != nil {
		c.sftp.Close()
	}
	err := c.Client.Close()
	c.wg.Wait()
	c.closeAuth()
	return err
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
