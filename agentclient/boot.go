package agentclient

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/concdeploy/conc/bundle"
	"github.com/concdeploy/conc/channel"
	"github.com/concdeploy/conc/config"
	"github.com/concdeploy/conc/jobs"
	"golang.org/x/crypto/ssh"
)

// bootTimeout bounds starting the agent, upload included.
const bootTimeout = 2 * time.Minute

// bootScript starts the agent in one SSH exec, the only shell text conc
// sends. It is constant but for the quoted agent hashes (each with the
// stamp this workstation holds of it), the hello's size, and the hello
// itself when the script carries it. The controller sends the hello
// without waiting, so the cached case costs no extra round trip: the
// agent, exec'd from the cache, reads it.
//
// A cached agent runs only once sha256sum has passed it, never on its own
// word. The hash is checked again whenever the file's inode, size or ctime
// differ from the stamp the workstation sent with the hash: a stamp the
// node's boot reported ("conc-boot verified HASH STAMP") when the check
// last passed, kept on the workstation (stamps.go), so that nothing on the
// node vouches for itself. ctime changes with any write and cannot be set
// back. A file that fails is removed, never run, and uploaded again
// ("conc-boot replaced"). The hash is read as "sha256sum <FILE" prints it,
// which GNU, BusyBox and toybox agree on.
//
// When no cached agent fits, the script throws the hello away, says which
// architecture it needs, reads "SIZE HASH" and the binary on stdin, checks
// its sha256, fsyncs it (sync FILE; where sync takes no file it syncs all),
// renames it into the cache, fsyncs the cache directory, reports its stamp,
// and starts it; the controller then sends the hello again.
//
// The hello and the jobs sent ahead with it may instead come in the script
// itself (%[5]s, see inlinePrelude): a here-document on descriptor 9,
// which the agent, started with --prelude, reads before stdin. The
// here-document is a redirection of a function's (conc_start), not of a
// bare exec: a shell in POSIX mode exits when a special built-in's
// redirection fails (bash as sh, its temporary directory full), and ksh
// does not hand a descriptor a bare exec opened to the programs it runs.
// Where the redirection fails, conc_start returns and the agent starts
// without the descriptor; it then asks for the hello on stdin.
const bootScript = `%[5]sd="$HOME/%[2]s"
for hs in %[1]s; do
h=${hs%%%%:*}; e=${hs#*:}
f="$d/%[3]s$h"
[ -x "$f" ] || continue
s=$(stat -L -c '%%i %%s %%z' "$f" 2>/dev/null)
[ -n "$s" ] && [ "$s" = "$e" ] && %[6]s
set -- $(sha256sum <"$f" 2>/dev/null)
if [ "$1" = "$h" ]; then echo "conc-boot verified $h $s"; %[6]s; fi
echo "conc-boot replaced $f"
rm -f "$f"
done
head -c %[4]d >/dev/null
echo "conc-boot need $(uname -m)"
IFS=' ' read -r n h || exit 1
case "$n$h" in *[!0-9a-f]*|'') echo 'conc-boot: bad upload header' >&2; exit 1;; esac
command -v sha256sum >/dev/null || { echo 'conc-boot: sha256sum is missing on the node (install coreutils)' >&2; exit 1; }
u=$(umask); umask 077
mkdir -p "$d" && chmod 700 "$d" || exit 1
t="$d/.%[3]s$h.$$"
head -c "$n" >"$t" || { rm -f "$t"; exit 1; }
set -- $(sha256sum <"$t")
[ "$1" = "$h" ] || { rm -f "$t"; echo 'conc-boot: the uploaded agent does not match its sha256' >&2; exit 1; }
sync "$t" 2>/dev/null
chmod 700 "$t" && mv -f "$t" "$d/%[3]s$h" || exit 1
sync "$d" 2>/dev/null
f="$d/%[3]s$h"; s=$(stat -L -c '%%i %%s %%z' "$f" 2>/dev/null) && echo "conc-boot verified $h $s"
echo 'conc-boot installed'
umask "$u"
%[6]s`

// previewBoot is what bootScript becomes for a preview, which changes
// nothing on the node: a cached agent that fails its hash is reported and
// left, and with none to run the script says what it needs and ends.
var previewBoot = strings.NewReplacer(
	"echo \"conc-boot replaced $f\"\nrm -f \"$f\"\n", "echo \"conc-boot corrupt $f\"\n",
	"echo \"conc-boot need $(uname -m)\"\n", "echo \"conc-boot need $(uname -m)\"\nexit 0\n",
)

// bootCommand renders the boot script for these agents, with the stamps
// this workstation holds of the node's cached agents, for a preview when
// cachedOnly is set. The hello and the jobs sent ahead are the script's
// when inline holds them; else the first helloSize bytes of stdin are.
func bootCommand(agents Agents, stamps map[string]string, helloSize int, inline []byte, cachedOnly bool) string {
	s := bootScriptFor(agents, stamps, helloSize, inline)
	if cachedOnly {
		s = previewBoot.Replace(s)
	}
	return s
}

func bootScriptFor(agents Agents, stamps map[string]string, helloSize int, inline []byte) string {
	var hashes []string
	for _, arch := range agents.Archs() {
		h := agents[arch].Hash
		hashes = append(hashes, jobs.Quote(h+":"+stamps[h]))
	}
	heredoc, start := "", `exec "$f"`
	if inline != nil {
		// Base64 has no '_': no line of it can end the here-document.
		heredoc = fmt.Sprintf("conc_start() { exec \"$f\" --prelude; } %d<<'CONC_PRELUDE'\n%s\nCONC_PRELUDE\n",
			channel.PreludeFD, base64.StdEncoding.EncodeToString(inline))
		start, helloSize = `{ conc_start; exec "$f" --prelude; }`, 0
	}
	return fmt.Sprintf(bootScript, strings.Join(hashes, " "), bundle.CacheDir, bundle.AgentPrefix, helloSize, heredoc, start)
}

// maxInline bounds the prelude the boot script carries, base64 encoded:
// Dropbear refuses a command longer than 9,000 bytes (OpenSSH takes up to
// the 128 KiB Linux allows one argument), and the script around it is
// under 2 KiB. A hello and a few dozen jobs sent ahead fit; more go on
// stdin, a round trip later.
const maxInline = 6 << 10

// shyWords are what, in a param's name, keeps the hello out of the boot
// command: config.IsSecret's words and more, for the command is readable
// by the node's other users, and all it costs is a round trip.
var shyWords = []string{"pass", "key", "cred", "auth", "priv", "cookie", "dsn", "cert", "salt"}

// inlinePrelude reports whether the hello and the jobs sent ahead with it
// (frame) go in the boot script rather than on stdin. OpenSSH's sshd opens
// a session's window only once it has started the command, so whatever
// is written on stdin waits a round trip for it, where the script arrives
// with the exec. But the script is the login shell's argument, which any
// user of the node may read while the shell runs: it carries nothing
// secret, so a hello with the sudo password or a param whose name says it
// may be secret (whose value a job's arguments may hold too) goes on stdin.
func inlinePrelude(hello *channel.Hello, frame []byte) bool {
	if len(hello.Sudo) > 0 || base64.StdEncoding.EncodedLen(len(frame)) > maxInline {
		return false
	}
	for k, v := range hello.Params {
		if v != "" && shy(k) {
			return false
		}
	}
	return true
}

func shy(name string) bool {
	if config.IsSecret(name) {
		return true
	}
	name = strings.ToLower(name)
	for _, w := range shyWords {
		if strings.Contains(name, w) {
			return true
		}
	}
	return false
}

// agentStart is an agent process on the node and the channel to it.
type agentStart struct {
	sess     *execSession
	conn     *channel.Conn
	stderr   *jobs.Tail
	uploaded bool
	replaced []string // cached agents that failed their sha256: removed, never run
	corrupt  []string // the same, seen by a preview, which leaves them
	// preludeLost: the agent did not get the hello the boot script
	// carried, and took it on stdin.
	preludeLost bool
	verified    string // "HASH STAMP" of the agent the boot just checked, to keep
	// cachedOnly starts only an agent the node has cached: a preview
	// uploads nothing.
	cachedOnly bool
}

// NotCachedError says that the node has no agent of conc's cached, and a
// run would upload one: Size bytes for its Machine.
type NotCachedError struct {
	Machine string
	Size    int
	// Corrupt are cached agents that failed their sha256 check, which a
	// run removes (never runs) before its upload.
	Corrupt []string
}

func (e *NotCachedError) Error() string {
	msg := fmt.Sprintf("no agent of this conc is cached on the node: a run would upload the %s agent (%d bytes)", e.Machine, e.Size)
	if len(e.Corrupt) > 0 {
		msg += fmt.Sprintf("; %s on the node does not match its sha256: a run removes it, never runs it", strings.Join(e.Corrupt, ", "))
	}
	return msg
}

// sessionRW joins the session's stdout (behind the reader that peeked at
// it) and stdin into the channel's stream.
type sessionRW struct {
	r    io.Reader
	w    io.Writer
	sess *execSession
}

func (s *sessionRW) Read(p []byte) (int, error)  { return s.r.Read(p) }
func (s *sessionRW) Write(p []byte) (int, error) { return s.w.Write(p) }
func (s *sessionRW) Close() error {
	s.sess.CloseWrite()
	return s.sess.Close()
}

// startAgent starts the agent over one exec session and sends it hello.
// The caller reads ready.
func startAgent(ctx context.Context, client *ssh.Client, agents Agents, stamps map[string]string, prelude []*channel.Message, logLine func(string), cachedOnly bool) (*agentStart, error) {
	// The hello and the jobs sent ahead with it go as one write; the boot
	// script throws all of it away when it must upload the agent first,
	// and it is sent again once the agent is installed.
	var frame []byte
	for _, m := range prelude {
		f, err := channel.Encode(m)
		if err != nil {
			return nil, err
		}
		frame = append(frame, f...)
	}
	a := &agentStart{stderr: jobs.NewTail(&lineWriter{f: logLine}), cachedOnly: cachedOnly}
	var inline []byte
	if inlinePrelude(prelude[0].Hello, frame) {
		inline = frame
	}
	sess, err := startExec(client, bootCommand(agents, stamps, len(frame), inline, cachedOnly), a.stderr)
	if err != nil {
		return nil, err
	}
	a.sess = sess
	ctx, cancel := context.WithTimeout(ctx, bootTimeout)
	defer cancel()
	// A stop or the timeout ends the start with the connection: sshd keeps
	// a session's channel open while its command runs, so closing the
	// session alone leaves the read below to a login shell that may never
	// end (a startup file that hangs, reading no stdin).
	stop := context.AfterFunc(ctx, func() {
		sess.Close()
		client.Close()
	})
	defer stop()
	// A hello not in the script goes right after the exec, as soon as
	// sshd opens the session's window: the boot script hands it to a
	// cached agent, which answers at once, then reads the jobs that came
	// with it.
	if inline == nil {
		if _, err := sess.Write(frame); err != nil {
			sess.Close()
			return nil, a.fail(ctx, fmt.Errorf("send hello: %w", err))
		}
	}
	br := bufio.NewReaderSize(sess, 64<<10)
	if err := a.bootstrap(ctx, br, sess, agents, frame, inline != nil); err != nil {
		sess.Close()
		return nil, err
	}
	a.conn = channel.New(&sessionRW{r: br, w: sess, sess: sess})
	return a, nil
}

// bootstrap reads what the boot script says before the agent speaks, and
// uploads the agent when the script asks for it. frame is the hello and
// the jobs sent ahead with it; inlined, when the script carries them.
func (a *agentStart) bootstrap(ctx context.Context, br *bufio.Reader, stdin io.Writer, agents Agents, frame []byte, inlined bool) error {
	for {
		b, err := br.Peek(1)
		if err != nil {
			return a.fail(ctx, fmt.Errorf("the agent did not start: %w", err))
		}
		if b[0] == 0 {
			// A frame: frames are under 16 MiB, so their first byte is 0.
			return nil
		}
		// ReadSlice is bounded by the reader's buffer: a node that prints
		// without end cannot grow conc's memory.
		raw, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			return fmt.Errorf("the node printed a line longer than %d bytes before the agent started: make the login shell's startup files quiet when not interactive", br.Size())
		}
		if err != nil {
			return a.fail(ctx, fmt.Errorf("the agent did not start: %w", err))
		}
		line := strings.TrimSpace(string(raw))
		switch {
		case strings.HasPrefix(line, "conc-boot need "):
			bin, err := agents.ForMachine(strings.TrimPrefix(line, "conc-boot need "))
			if err != nil {
				return err
			}
			data, err := bin.Bytes()
			if err != nil {
				return err
			}
			if a.cachedOnly {
				return &NotCachedError{Machine: strings.TrimPrefix(line, "conc-boot need "), Size: len(data), Corrupt: a.corrupt}
			}
			if _, err := fmt.Fprintf(stdin, "%d %s\n", len(data), bin.Hash); err != nil {
				return a.fail(ctx, fmt.Errorf("upload the agent: %w", err))
			}
			if _, err := stdin.Write(data); err != nil {
				return a.fail(ctx, fmt.Errorf("upload the agent: %w", err))
			}
			a.uploaded = true
		case strings.HasPrefix(line, "conc-boot verified "):
			a.verified = strings.TrimPrefix(line, "conc-boot verified ")
		case strings.HasPrefix(line, "conc-boot corrupt "):
			a.corrupt = append(a.corrupt, strings.TrimPrefix(line, "conc-boot corrupt "))
		case strings.HasPrefix(line, "conc-boot replaced "):
			a.replaced = append(a.replaced, strings.TrimPrefix(line, "conc-boot replaced "))
		case line == "conc-boot installed":
			if inlined {
				break // the script carries the hello: the new agent has it
			}
			if _, err := stdin.Write(frame); err != nil {
				return a.fail(ctx, fmt.Errorf("send hello: %w", err))
			}
		case line == channel.PreludeLost && inlined:
			// The login shell could not hand the script's here-document
			// over (see the agent's warning on stderr): the hello goes on
			// stdin, once.
			inlined = false
			a.preludeLost = true
			if _, err := stdin.Write(frame); err != nil {
				return a.fail(ctx, fmt.Errorf("send hello: %w", err))
			}
		default:
			return fmt.Errorf("the node's login shell printed %q before the agent started: make the shell's startup files quiet when not interactive", line)
		}
	}
}

// fail adds what the node's side said on stderr to a start error.
func (a *agentStart) fail(ctx context.Context, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		err = fmt.Errorf("%w (after %s)", err, bootTimeout)
	}
	if tail := bytes.TrimSpace(a.stderr.Bytes()); len(tail) > 0 {
		return fmt.Errorf("%w; the node said: %s", err, tail)
	}
	return err
}

// lineWriter hands complete lines to f.
type lineWriter struct {
	f   func(string)
	buf []byte
}

func (w *lineWriter) Write(p []byte) (int, error) {
	if w.f == nil {
		return len(p), nil
	}
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.f(string(w.buf[:i]))
		w.buf = w.buf[i+1:]
	}
	return len(p), nil
}
