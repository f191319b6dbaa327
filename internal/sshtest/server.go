// Package sshtest is an in-process SSH server that stands in for OpenSSH's
// sshd in hermetic tests and backs the "conc node serve" demo node.
//
// It mimics sshd where conc can observe the difference: public-key
// authentication for a single user, "session" channels whose exec and shell
// requests run through /bin/sh in the node's home directory (each child in its
// own process group, stdin closed but the child left running when the client
// goes away), exit-status/exit-signal reporting, and the "sftp" subsystem with
// paths relative to the home directory. Env, pty, X11 and agent forwarding
// requests and all global requests are refused, as a default sshd would.
//
// Two fault knobs simulate network trouble: CutConnections drops every live
// connection, SetRejectConnections makes the server hang up on new ones
// before the SSH handshake.
package sshtest

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"
)

// handshakeTimeout bounds the time a client may take to authenticate, like
// sshd's LoginGraceTime.
const handshakeTimeout = 30 * time.Second

// Config configures a Server.
type Config struct {
	// Listen is the TCP address to listen on, e.g. "127.0.0.1:0". It must be
	// a loopback address (or "localhost"); anything else is refused.
	Listen string
	// Root is the node's home: HOME and working directory of exec'd commands
	// and the SFTP working directory. It must exist.
	Root string
	// User is the only user name accepted.
	User string
	// HostKey is the server's host key.
	HostKey ssh.Signer
	// AuthorizedKeys are the public keys accepted for User. Public-key
	// authentication is the only method offered.
	AuthorizedKeys []ssh.PublicKey
	// Env holds extra KEY=VALUE pairs for exec'd processes. They override the
	// environment inherited from the server process.
	Env []string
	// Logf, if set, receives connection and session events.
	Logf func(format string, args ...any)
	// OnExec, if set, is called with each command a session is asked to
	// run, before it starts.
	OnExec func(command string)
}

// Server is a running in-process SSH server. Create it with Listen and stop
// it with Close.
type Server struct {
	cfg    Config
	sshCfg *ssh.ServerConfig
	env    []string
	ln     net.Listener
	done   chan struct{} // closed by Close
	reject atomic.Bool
	wg     sync.WaitGroup // every goroutine the server starts

	mu     sync.Mutex
	closed bool
	conns  map[net.Conn]struct{}
	procs  map[*process]struct{}
}

// Listen validates cfg, starts listening on cfg.Listen and serves
// connections in the background until Close.
func Listen(cfg Config) (*Server, error) {
	if cfg.User == "" {
		return nil, errors.New("sshtest config: user is empty")
	}
	if cfg.HostKey == nil {
		return nil, errors.New("sshtest config: host key is nil")
	}
	if cfg.Root == "" {
		return nil, errors.New("sshtest config: root is empty")
	}
	root, err := filepath.Abs(cfg.Root)
	if err != nil {
		return nil, fmt.Errorf("sshtest config: root: %w", err)
	}
	if fi, err := os.Stat(root); err != nil {
		return nil, fmt.Errorf("sshtest config: root: %w", err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("sshtest config: root %s is not a directory", root)
	}
	cfg.Root = root
	if err := checkLoopback(cfg.Listen); err != nil {
		return nil, err
	}

	s := &Server{
		cfg:   cfg,
		env:   childEnv(os.Environ(), cfg),
		done:  make(chan struct{}),
		conns: make(map[net.Conn]struct{}),
		procs: make(map[*process]struct{}),
	}
	s.sshCfg = &ssh.ServerConfig{
		PublicKeyCallback: s.checkPublicKey,
		ServerVersion:     "SSH-2.0-ConcSSHTest_1.0",
	}
	s.sshCfg.AddHostKey(cfg.HostKey)

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	if tcp, ok := ln.Addr().(*net.TCPAddr); !ok || !tcp.IP.IsLoopback() {
		ln.Close()
		return nil, fmt.Errorf("listen on %s: bound to non-loopback address %s", cfg.Listen, ln.Addr())
	}
	s.ln = ln
	s.wg.Add(1)
	go s.acceptLoop()
	return s, nil
}

// checkLoopback refuses listen addresses that are not loopback addresses.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("listen address %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("listen address %q is not a loopback address", addr)
	}
	return nil
}

// childEnv builds the environment of exec'd processes the way sshd does for
// the fields conc relies on: HOME is the node's home, USER and LOGNAME the
// login user; everything else is inherited, then cfg.Env is applied.
func childEnv(environ []string, cfg Config) []string {
	env := make([]string, 0, len(environ)+3+len(cfg.Env))
	for _, kv := range environ {
		switch k, _, _ := strings.Cut(kv, "="); k {
		case "HOME", "PWD", "OLDPWD", "USER", "LOGNAME":
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "HOME="+cfg.Root, "USER="+cfg.User, "LOGNAME="+cfg.User)
	return append(env, cfg.Env...)
}

// Addr returns the address the server listens on.
func (s *Server) Addr() *net.TCPAddr {
	return s.ln.Addr().(*net.TCPAddr)
}

// Close stops the listener, closes every connection, sends SIGKILL to the
// process groups of commands that are still running and waits for all of
// the server's goroutines to return; the commands themselves have been
// reaped by then, other members of their process groups die asynchronously.
// It returns the listener's close error.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.wg.Wait()
		return nil
	}
	s.closed = true
	close(s.done)
	err := s.ln.Close()
	for c := range s.conns {
		c.Close()
	}
	for p := range s.procs {
		p.kill()
	}
	s.mu.Unlock()
	s.wg.Wait()
	if err != nil {
		return fmt.Errorf("close listener: %w", err)
	}
	return nil
}

// CutConnections abruptly closes every live TCP connection (with a reset,
// as when the network drops) without telling the SSH peer. Commands keep
// running and see EOF on stdin. The server keeps listening.
func (s *Server) CutConnections() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetLinger(0)
		}
		c.Close()
	}
}

// SetRejectConnections makes the server close new TCP connections right
// after accepting them, before the SSH handshake, while reject is true.
// Established connections are not affected.
func (s *Server) SetRejectConnections(reject bool) {
	s.reject.Store(reject)
}

func (s *Server) logf(format string, args ...any) {
	if s.cfg.Logf != nil {
		s.cfg.Logf(format, args...)
	}
}

func (s *Server) checkPublicKey(meta ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
	if meta.User() != s.cfg.User {
		return nil, fmt.Errorf("user %q not allowed", meta.User())
	}
	b := key.Marshal()
	for _, k := range s.cfg.AuthorizedKeys {
		if bytes.Equal(k.Marshal(), b) {
			return &ssh.Permissions{
				Extensions: map[string]string{"pubkey-fp": ssh.FingerprintSHA256(key)},
			}, nil
		}
	}
	return nil, fmt.Errorf("public key %s not authorized", ssh.FingerprintSHA256(key))
}

func (s *Server) acceptLoop() {
	defer s.wg.Done()
	backoff := 5 * time.Millisecond
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// E.g. EMFILE: back off instead of spinning, like net/http.
			s.logf("accept: %v", err)
			select {
			case <-s.done:
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, time.Second)
			continue
		}
		backoff = 5 * time.Millisecond
		if s.reject.Load() {
			s.logf("rejecting connection from %s", c.RemoteAddr())
			c.Close()
			continue
		}
		if !s.track(c) {
			c.Close()
			continue
		}
		s.wg.Add(1)
		go s.handleConn(c)
	}
}

// track registers a live connection; it reports false once the server is
// closed.
func (s *Server) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *Server) untrack(c net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
}

func (s *Server) handleConn(c net.Conn) {
	defer s.wg.Done()
	defer s.untrack(c)
	defer c.Close()

	remote := c.RemoteAddr()
	c.SetDeadline(time.Now().Add(handshakeTimeout))
	sc, chans, reqs, err := ssh.NewServerConn(c, s.sshCfg)
	if err != nil {
		s.logf("handshake with %s: %v", remote, err)
		return
	}
	c.SetDeadline(time.Time{})
	s.logf("accepted publickey for %s from %s (%s)", sc.User(), remote, sc.Permissions.Extensions["pubkey-fp"])

	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		// keepalive@openssh.com, no-more-sessions@openssh.com, tcpip-forward...
		for req := range reqs {
			if req.WantReply {
				req.Reply(false, nil)
			}
		}
	}()
	for nc := range chans {
		if nc.ChannelType() != "session" {
			nc.Reject(ssh.UnknownChannelType, "unknown channel type")
			continue
		}
		s.wg.Add(1)
		go s.handleSession(nc)
	}
	// chans is closed once the connection is gone.
	sc.Close()
	s.logf("disconnected %s from %s", sc.User(), remote)
}
