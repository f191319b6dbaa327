package testnode

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/concdeploy/conc/internal/sshtest"
)

const (
	// sshdStartTimeout bounds the wait for sshd's "Server listening on".
	sshdStartTimeout = 10 * time.Second
	// sshdExitTimeout bounds waits for killed processes to exit.
	sshdExitTimeout = 10 * time.Second
	// bindAttempts is how often OpenSSH retries with a new port when the
	// port picked turns out to be taken.
	bindAttempts = 5
)

// errPortInUse reports that sshd could not bind its port.
var errPortInUse = errors.New("port in use")

// RequireSSHD returns the absolute path of OpenSSH's sshd, looked up in
// PATH, /usr/sbin and /usr/local/sbin. If there is none it skips the test,
// or fails it when CI=true.
func RequireSSHD(tb testing.TB) string {
	tb.Helper()
	paths := []string{"/usr/sbin/sshd", "/usr/local/sbin/sshd"}
	if p, err := exec.LookPath("sshd"); err == nil {
		if abs, err := filepath.Abs(p); err == nil {
			// sshd must be started by absolute path to re-exec itself.
			paths = append([]string{abs}, paths...)
		}
	}
	return requireFile(tb, "sshd", paths)
}

// requireSFTPServer returns the path of OpenSSH's sftp-server, next to sshd
// or in the usual libexec directories, skipping or failing like RequireSSHD.
func requireSFTPServer(tb testing.TB, sshd string) string {
	tb.Helper()
	prefix := filepath.Dir(filepath.Dir(sshd)) // /usr for /usr/sbin/sshd
	var paths []string
	for _, dir := range []string{"lib/openssh", "libexec/openssh", "libexec", "lib/ssh"} {
		paths = append(paths, filepath.Join(prefix, dir, "sftp-server"))
	}
	return requireFile(tb, "sftp-server", paths)
}

// sessionScript is sshd's ForceCommand. sshd starts every session in the
// user's home directory from the password database, and SetEnv only changes
// $HOME. The script moves to $HOME, the node's home, and then runs the
// client's command with the user's shell exactly as sshd would have
// ("$SHELL -c command", or a login shell when there is no command). The
// sftp subsystem is a command too under ForceCommand, so sftp-server also
// starts in the node's home and relative SFTP paths resolve there. Like
// many distributions' profiles, it puts ~/bin first on PATH, so a test can
// give the node a program of its own (a stand-in sudo). It keeps each
// command, NUL-terminated, in the file commands beside it (Node.Commands).
const sessionScript = `# ForceCommand written by internal/testnode, see sessionScript.
cd "$HOME" || exit 1
PATH="$HOME/bin:$PATH"; export PATH
if [ -z "${SSH_ORIGINAL_COMMAND+set}" ]; then
	exec "$SHELL" -l
fi
c=$SSH_ORIGINAL_COMMAND
unset SSH_ORIGINAL_COMMAND
printf '%s\000' "$c" >>"${0%/*}/commands"
exec "$SHELL" -c "$c"
`

// OpenSSH starts a real OpenSSH sshd for the test, as the current user (root
// or not), listening on a free port of 127.0.0.1 with a fresh host key and
// authorized_keys, and returns its node. No OS users are created; the node
// accepts the current user with the key in Node.Identity. sshd and all its
// descendants are killed when the test ends, and its log is written to the
// test log if the test failed.
//
// Commands and SFTP run in Node.Home, with HOME set to it (see
// sessionScript). Unlike the in-process server, sshd ignores "signal"
// requests here: it does for forced-command sessions, and also when it runs
// without privilege separation (non-root sshd, or root logging in as root).
func OpenSSH(tb testing.TB) *Node {
	tb.Helper()
	return OpenSSHWith(tb, Options{})
}

// Options change how OpenSSHWith starts sshd.
type Options struct {
	// LogLevel is sshd's LogLevel, such as DEBUG1; "" is INFO. Read the
	// log with Node.StopLog.
	LogLevel string
	// Env is more of the sessions' environment, NAME=value each (sshd's
	// SetEnv): SHELL=/usr/bin/zsh runs every command with that shell.
	Env []string
}

// OpenSSHWith is OpenSSH with options.
func OpenSSHWith(tb testing.TB, o Options) *Node {
	tb.Helper()
	if o.LogLevel == "" {
		o.LogLevel = "INFO"
	}
	sshd := RequireSSHD(tb)
	sftpServer := requireSFTPServer(tb, sshd)
	if os.Geteuid() == 0 {
		// sshd running as root insists on its privilege separation
		// directory, which is usually created by the service unit.
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			tb.Fatalf("create sshd privilege separation directory: %v", err)
		}
	}
	n, hostKey := newNode(tb, KindOpenSSH)

	// The configuration lives in a directory with a plain name: sshd
	// expands %-sequences in some paths, and the ForceCommand line goes
	// through a shell.
	dir, err := os.MkdirTemp("", "conc-sshd-")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	hostKeyPath := filepath.Join(dir, "ssh_host_ed25519_key")
	authKeys := filepath.Join(dir, "authorized_keys")
	script := filepath.Join(dir, "session.sh")
	if err := hostKey.WritePrivateKey(hostKeyPath); err != nil {
		tb.Fatal(err)
	}
	if err := sshtest.WriteAuthorizedKeys(authKeys, n.signer.PublicKey()); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(script, []byte(sessionScript), 0o644); err != nil {
		tb.Fatal(err)
	}

	log := &syncBuffer{}
	tb.Cleanup(func() {
		// Runs after the sshd cleanup below, with the complete log.
		if tb.Failed() {
			tb.Logf("sshd log of %s:\n%s", n.Name, log.String())
		}
	})
	version := sshdVersion(sshd)
	var proc *sshdProcess
	for attempt := 1; ; attempt++ {
		port, err := freePort()
		if err != nil {
			tb.Fatal(err)
		}
		cfg := filepath.Join(dir, "sshd_config")
		if err := os.WriteFile(cfg, []byte(sshdConfig(port, n, dir, sftpServer, version, o)), 0o644); err != nil {
			tb.Fatal(err)
		}
		proc, err = startSSHD(sshd, cfg, port, log)
		if err == nil {
			n.Port = port
			break
		}
		if !errors.Is(err, errPortInUse) || attempt == bindAttempts {
			tb.Fatalf("start sshd: %v", err) // the log follows, from the cleanup above
		}
	}
	var stopOnce sync.Once
	n.stop = func() string {
		stopOnce.Do(proc.stop)
		return log.String()
	}
	tb.Cleanup(func() { n.stop() })
	n.authKeys = authKeys
	n.commands = func() []string {
		b, err := os.ReadFile(filepath.Join(dir, "commands"))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			tb.Fatal(err)
		}
		if len(b) == 0 {
			return nil
		}
		return strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")
	}
	n.sshdPID = proc.cmd.Process.Pid
	n.Cut = func() {
		if err := cutSSHD(n.sshdPID); err != nil {
			tb.Errorf("cut connections of %s: %v", n.Name, err)
		}
	}
	writeKnownHosts(tb, n)
	return n
}

// sshdConfig returns the sshd_config of a node. version is sshd's version
// as returned by sshdVersion.
func sshdConfig(port int, n *Node, dir, sftpServer string, version int, o Options) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	w("# Written by internal/testnode for %s.", n.Name)
	w("Port %d", port)
	w("ListenAddress 127.0.0.1")
	w("AddressFamily inet")
	w("HostKey %s", filepath.Join(dir, "ssh_host_ed25519_key"))
	w("AuthorizedKeysFile %s", filepath.Join(dir, "authorized_keys"))
	w("PidFile none")
	w("StrictModes no")
	w("UsePAM no")
	w("PubkeyAuthentication yes")
	w("PasswordAuthentication no")
	w("KbdInteractiveAuthentication no")
	w("PermitRootLogin prohibit-password")
	w("AllowUsers %s", n.User)
	w("PrintMotd no")
	w("PrintLastLog no")
	w("UseDNS no")
	w("X11Forwarding no")
	w("LogLevel %s", o.LogLevel)
	// A fleet of nodes on one sshd (make bench's 50) logs in at once; the
	// default 10:30:100 drops connections past 10 unauthenticated ones.
	w("MaxStartups 100:30:200")
	if version >= 908 {
		// OpenSSH 9.8 penalises sources whose sessions crash, which Cut
		// makes sshd count; do not lock 127.0.0.1 out.
		w("PerSourcePenalties no")
	}
	// SetEnv overrides the HOME sshd sets from the password database (it
	// is applied after it), for exec and subsystem sessions alike.
	// sshd takes the first SetEnv line only: one line for all.
	env := fmt.Sprintf(`"HOME=%s"`, n.Home)
	for _, e := range o.Env {
		env += fmt.Sprintf(` "%s"`, e)
	}
	w("SetEnv %s", env)
	w("ForceCommand /bin/sh %s", filepath.Join(dir, "session.sh"))
	w("Subsystem sftp %s", sftpServer)
	return b.String()
}

// sshdVersion returns sshd's version as major*100+minor, or 0 if it cannot
// be determined. "sshd -V" prints e.g. "OpenSSH_9.2p1 Debian-2+deb12u3,
// OpenSSL 3.0.15 3 Sep 2024" (older versions only print it along with a
// usage message, and exit non-zero).
func sshdVersion(sshd string) int {
	out, _ := exec.Command(sshd, "-V").CombinedOutput()
	_, v, ok := strings.Cut(string(out), "OpenSSH_")
	if !ok {
		return 0
	}
	major, rest, _ := strings.Cut(v, ".")
	minor := strings.TrimLeft(rest, "0123456789")
	minor = rest[:len(rest)-len(minor)]
	ma, err1 := strconv.Atoi(major)
	mi, err2 := strconv.Atoi(minor)
	if err1 != nil || err2 != nil {
		return 0
	}
	return ma*100 + mi
}

// freePort returns a TCP port of 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pick a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// sshdProcess is a running sshd listener.
type sshdProcess struct {
	cmd     *exec.Cmd
	stderr  *os.File      // read end of sshd's stderr
	logDone chan struct{} // closed when stderr reaches EOF
}

// startSSHD starts "sshd -D -e -f cfg" and waits for it to listen on port.
// Its stderr is copied into log until it closes.
func startSSHD(sshd, cfg string, port int, log *syncBuffer) (*sshdProcess, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("create stderr pipe: %w", err)
	}
	cmd := exec.Command(sshd, "-D", "-e", "-f", cfg)
	cmd.Stdout, cmd.Stderr = w, w
	// Keep terminal signals for the test binary away from sshd.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	err = cmd.Start()
	w.Close()
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("run %s: %w", sshd, err)
	}
	p := &sshdProcess{cmd: cmd, stderr: r, logDone: make(chan struct{})}

	ready := make(chan struct{})
	listening := fmt.Sprintf("Server listening on 127.0.0.1 port %d.", port)
	go func() {
		defer close(p.logDone)
		sc := bufio.NewScanner(r)
		sc.Buffer(nil, 1<<20)
		signalled := false
		for sc.Scan() {
			line := sc.Text()
			log.WriteLine(line)
			if !signalled && strings.Contains(line, listening) {
				signalled = true
				close(ready)
			}
		}
	}()

	timer := time.NewTimer(sshdStartTimeout)
	defer timer.Stop()
	select {
	case <-ready:
		return p, nil
	case <-p.logDone:
		// sshd exited (or closed stderr) before listening.
		p.stop()
		if strings.Contains(log.String(), "Address already in use") {
			return nil, fmt.Errorf("sshd on port %d: %w", port, errPortInUse)
		}
		return nil, fmt.Errorf("sshd exited before listening: %v", p.cmd.ProcessState)
	case <-timer.C:
		p.stop()
		return nil, fmt.Errorf("sshd not listening on port %d after %v", port, sshdStartTimeout)
	}
}

// stop kills sshd and all its descendants (per-connection sshd processes
// and the commands they run), reaps sshd and ends the log copy.
func (p *sshdProcess) stop() {
	pid := p.cmd.Process.Pid
	// Collect the tree before killing the listener: its orphans would be
	// reparented out of reach.
	desc, _ := descendants(pid)
	// The listener runs in its own process group (Setpgid), with children
	// that have not called setsid yet.
	killGroup(pid)
	p.cmd.Process.Kill()
	// Every per-connection sshd and every command sshd starts leads its own
	// session; killing whole process groups also gets processes forked
	// since the tree was collected.
	for _, d := range desc {
		killGroup(d.pgid)
		syscall.Kill(d.pid, syscall.SIGKILL)
	}
	p.cmd.Wait()
	// Killed descendants close their copies of stderr as they die.
	select {
	case <-p.logDone:
	case <-time.After(sshdExitTimeout):
	}
	p.stderr.Close()
	<-p.logDone
}

// cutSSHD kills, with SIGKILL, the per-connection sshd processes of the
// listener pid, so that clients see their TCP connections drop and the
// commands of their sessions see EOF on stdin; the commands keep running.
// It returns once the killed processes have exited.
func cutSSHD(pid int) error {
	desc, err := descendants(pid)
	if err != nil {
		return err
	}
	// "sshd" up to OpenSSH 9.7; "sshd-session" and "sshd-auth" since.
	isSSHD := func(p proc) bool { return strings.HasPrefix(p.comm, "sshd") }
	groups := map[int]bool{}
	for _, d := range desc {
		if d.ppid == pid && isSSHD(d) {
			// A per-connection sshd calls setsid; its process group holds
			// its privilege separation children, including one it may be
			// forking right now, while the commands it runs have sessions
			// of their own. Killing the group is atomic with respect to
			// fork, unlike killing the processes one by one.
			killGroup(d.pid)
			syscall.Kill(d.pid, syscall.SIGKILL)
			groups[d.pid] = true
		}
	}
	var killed []int
	for _, d := range desc {
		if isSSHD(d) && (d.ppid == pid || groups[d.pgid]) {
			killed = append(killed, d.pid)
		}
	}
	for _, p := range killed {
		if err := waitExit(p, sshdExitTimeout); err != nil {
			return err
		}
	}
	return nil
}

// killGroup sends SIGKILL to process group pgid, unless that is the test
// binary's own group.
func killGroup(pgid int) {
	if pgid > 1 && pgid != syscall.Getpgrp() {
		syscall.Kill(-pgid, syscall.SIGKILL)
	}
}

// proc is a process found in /proc.
type proc struct {
	pid, ppid, pgid int
	comm            string
}

// descendants returns the processes descending from pid, by their parent
// pids in /proc/*/stat.
func descendants(pid int) ([]proc, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	children := map[int][]proc{}
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // exited meanwhile
		}
		// "pid (comm) state ppid ...", comm may contain spaces and ')'.
		s := string(b)
		open, close := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || close < open {
			continue
		}
		fields := strings.Fields(s[close+1:])
		if len(fields) < 3 {
			continue
		}
		ppid, err1 := strconv.Atoi(fields[1])
		pgid, err2 := strconv.Atoi(fields[2])
		if err1 != nil || err2 != nil {
			continue
		}
		children[ppid] = append(children[ppid], proc{pid: p, ppid: ppid, pgid: pgid, comm: s[open+1 : close]})
	}
	var out []proc
	queue := []int{pid}
	for len(queue) > 0 {
		for _, c := range children[queue[0]] {
			out = append(out, c)
			queue = append(queue, c.pid)
		}
		queue = queue[1:]
	}
	return out, nil
}

// syncBuffer is a line buffer safe for concurrent use.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// WriteLine appends line and a newline.
func (b *syncBuffer) WriteLine(line string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.WriteString(line)
	b.buf.WriteByte('\n')
}

// String returns the buffer's contents.
func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
