package agentclient

import (
	"fmt"
	"io"
	"sync"

	"golang.org/x/crypto/ssh"
)

// execSession is an SSH session that runs one command, asked for without
// waiting for the server's reply: x/crypto/ssh's Session.Start waits a
// round trip for it, which over a slow link is as long as a job. A server
// that refuses the command closes the channel, which the agent's boot
// reads as its end, with what the node said on stderr.
type execSession struct {
	ch   ssh.Channel
	done chan struct{} // closed when the channel's requests end: the command exited
	once sync.Once
}

// startExec opens a session channel on client and asks it to run cmd,
// with stderr copied to stderr.
func startExec(client *ssh.Client, cmd string, stderr io.Writer) (*execSession, error) {
	ch, reqs, err := client.OpenChannel("session", nil)
	if err != nil {
		return nil, fmt.Errorf("open a session: %w", err)
	}
	s := &execSession{ch: ch, done: make(chan struct{})}
	go func() {
		// exit-status and exit-signal say nothing the agent's channel
		// does not; what matters is that they end.
		for req := range reqs {
			if req.WantReply {
				req.Reply(false, nil)
			}
		}
		close(s.done)
	}()
	go io.Copy(stderr, ch.Stderr())
	payload := ssh.Marshal(&struct{ Command string }{cmd})
	if _, err := ch.SendRequest("exec", false, payload); err != nil {
		ch.Close()
		return nil, fmt.Errorf("start the agent: %w", err)
	}
	return s, nil
}

// Read reads the command's stdout.
func (s *execSession) Read(p []byte) (int, error) { return s.ch.Read(p) }

// Write writes to the command's stdin.
func (s *execSession) Write(p []byte) (int, error) { return s.ch.Write(p) }

// CloseWrite ends the command's stdin.
func (s *execSession) CloseWrite() error { return s.ch.CloseWrite() }

// Close closes the channel; the command's stdin ends with it.
func (s *execSession) Close() error {
	s.once.Do(func() { s.ch.Close() })
	return nil
}

// Wait returns once the channel is closed: the command exited, or the
// session was closed.
func (s *execSession) Wait() error {
	<-s.done
	return nil
}
