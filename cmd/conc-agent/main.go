// Command conc-agent is conc's agent. The controller uploads it to the node
// and starts it over SSH; it is not meant to be run by hand. It speaks the
// channel on stdin and stdout and logs to stderr.
package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/concdeploy/conc/agent"
	"github.com/concdeploy/conc/channel"
	"github.com/concdeploy/conc/jobs"
	"github.com/concdeploy/conc/jobs/nodeops"
	"github.com/concdeploy/conc/nodetest"
	"github.com/rs/zerolog"
)

func main() {
	// First of all, before anything the agent opens could take the
	// descriptor's number where the shell did not open it.
	var pre *bytes.Reader
	var preErr error
	if len(os.Args) > 1 && os.Args[1] == "--prelude" {
		pre, preErr = readPrelude(channel.PreludeFD)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	// conc unlock --force on the node evicts the agent with SIGUSR1.
	ctx, evict := context.WithCancelCause(ctx)
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	go func() { <-usr1; evict(agent.ErrEvicted) }()
	// When the connection drops, stderr is a broken pipe, and Go kills a
	// program that writes to one on fd 2 unless it handles SIGPIPE. The
	// agent must live on to kill its jobs. Notify, not Ignore: an ignored
	// signal would stay ignored in every command the agent starts.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	log := zerolog.New(os.Stderr).With().Timestamp().Str("agent_pid", fmt.Sprint(os.Getpid())).Logger()
	// A job's process that leaves its group (setsid) and loses its parent
	// is re-parented to the agent, not to init, so the agent can kill it
	// when the job ends, and reap it.
	if err := jobs.Contain(); err != nil {
		log.Warn().Err(err).Msg("a job's processes that leave its process group may outlive it")
	}
	ch, err := takeStdio()
	if err == nil && preErr != nil {
		// The hello is not lost: the controller holds it, and sends it
		// on stdin when told, a round trip later.
		log.Warn().Err(preErr).Msg("the hello comes on stdin instead")
		_, err = ch.out.WriteString(channel.PreludeLost + "\n")
	}
	if err != nil {
		log.Error().Err(err).Msg("set up stdio")
		os.Exit(1)
	}
	ch.pre = pre
	opt, err := agent.ProcessOptions(jobs.MustCatalogue(nodeops.Ops(), []jobs.Op{nodetest.Op()}), log)
	if err != nil {
		log.Error().Err(err).Msg("start")
		os.Exit(1)
	}
	if err := agent.New(ch, opt).Serve(ctx); err != nil {
		log.Error().Err(err).Msg("agent stopped")
		os.Exit(1)
	}
}

// stdio is the channel: stdin and the original stdout, behind what the
// boot script handed over first.
type stdio struct {
	pre *bytes.Reader // nil when the boot script carried no prelude
	in  *os.File
	out *os.File
}

func (s stdio) Read(p []byte) (int, error) {
	if s.pre != nil && s.pre.Len() > 0 {
		return s.pre.Read(p)
	}
	return s.in.Read(p)
}
func (s stdio) Write(p []byte) (int, error) { return s.out.Write(p) }
func (s stdio) Close() error {
	s.in.Close()
	return s.out.Close()
}

// takeStdio moves the channel off file descriptors 0 and 1, and points them
// at /dev/null and stderr, so that nothing else in the process, or a child
// that inherits them, can read the channel or write stray bytes into it.
func takeStdio() (stdio, error) {
	in, err := syscall.Dup(0)
	if err != nil {
		return stdio{}, fmt.Errorf("dup stdin: %w", err)
	}
	out, err := syscall.Dup(1)
	if err != nil {
		return stdio{}, fmt.Errorf("dup stdout: %w", err)
	}
	syscall.CloseOnExec(in)
	syscall.CloseOnExec(out)
	widenPipe(in)
	widenPipe(out)
	null, err := os.Open(os.DevNull)
	if err != nil {
		return stdio{}, err
	}
	if err := syscall.Dup3(int(null.Fd()), 0, 0); err != nil {
		return stdio{}, fmt.Errorf("redirect stdin: %w", err)
	}
	null.Close()
	if err := syscall.Dup3(2, 1, 0); err != nil {
		return stdio{}, fmt.Errorf("redirect stdout: %w", err)
	}
	return stdio{in: os.NewFile(uintptr(in), "channel-in"), out: os.NewFile(uintptr(out), "channel-out")}, nil
}

// pipeSize is the size asked for the channel's pipes.
const pipeSize = 1 << 20

// widenPipe asks for a pipe of pipeSize bytes when fd is a pipe. sshd
// hands the channel over pipes of 64 KiB, so a copy through the node's
// store woke sshd and the agent once per 64 KiB each: one 256 MiB file
// took 1.12 s through them, 0.73 s through pipes of 1 MiB. Where the
// kernel says no (a socket, a user past its quota of pipe pages), the
// pipe stays as it was.
func widenPipe(fd int) {
	unix.FcntlInt(uintptr(fd), unix.F_SETPIPE_SZ, pipeSize)
}

// maxPrelude bounds the prelude read from the boot script: the controller
// sends at most 6 KiB of base64 (agentclient's maxInline).
const maxPrelude = 64 << 10

// readPrelude reads fd, the here-document in which the boot script hands
// over the hello and the jobs sent ahead with it (their base64 on one
// line), and closes it. A shell that writes here-documents to a temporary
// file (bash before 5.1, zsh) and finds no room for one leaves fd unopened
// (bash) or hands over what fitted (zsh): the error then says what came.
func readPrelude(fd int) (*bytes.Reader, error) {
	// Whatever fd is, no job inherits it. It is closed only once it has
	// proved to be the prelude: where the shell did not open it, the
	// number may be another's (the Go runtime keeps descriptors open).
	syscall.CloseOnExec(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, fmt.Errorf("the prelude on file descriptor %d: %w", fd, err)
	}
	// What a shell hands over as a here-document; anything else (a
	// terminal, a socket) might never end.
	if t := st.Mode & unix.S_IFMT; t != unix.S_IFIFO && t != unix.S_IFREG {
		return nil, fmt.Errorf("the prelude on file descriptor %d is not a pipe or a file (mode %#o)", fd, st.Mode)
	}
	var b []byte
	buf := make([]byte, 16<<10)
	for len(b) <= maxPrelude {
		n, err := unix.Read(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read the prelude on file descriptor %d: %w", fd, err)
		}
		if n == 0 {
			break
		}
		b = append(b, buf[:n]...)
	}
	switch {
	case len(b) > maxPrelude:
		return nil, fmt.Errorf("the prelude on file descriptor %d is longer than %d bytes", fd, maxPrelude)
	case len(b) == 0:
		return nil, fmt.Errorf("the prelude on file descriptor %d is empty (is the node's temporary directory full?)", fd)
	case b[len(b)-1] != '\n':
		return nil, fmt.Errorf("the prelude on file descriptor %d is cut short after %d bytes (is the node's temporary directory full?)", fd, len(b))
	}
	data, err := base64.StdEncoding.DecodeString(string(b[:len(b)-1]))
	if err != nil {
		return nil, fmt.Errorf("the prelude on file descriptor %d: %w", fd, err)
	}
	if !channel.WholeFrames(data) {
		return nil, fmt.Errorf("the prelude on file descriptor %d ends inside a frame", fd)
	}
	unix.Close(fd)
	return bytes.NewReader(data), nil
}
