package nodetest

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// test builds the Func that makes the spec's check and asserts on it.
func (s Spec) test() Func {
	return func(t *T) {
		if s.Skip != "" {
			t.Skip(s.Skip)
		}
		switch s.Check {
		case CheckRun:
			s.checkRun(t)
		case CheckFile:
			s.checkFile(t)
		case CheckPort:
			s.checkPort(t)
		case CheckPython:
			s.checkPython(t)
		case CheckHTTP:
			s.checkHTTP(t)
		default:
			t.Fatalf("unknown check %q (an agent older than its conc?)", s.Check)
		}
	}
}

// matchText applies expect and expect_regex to what a check read, both
// with leading and trailing white space trimmed, so that ^35$ matches a
// command's "35\n".
func (s Spec) matchText(t *T, what, got string) {
	got = strings.TrimSpace(got)
	if s.Expect != nil && got != strings.TrimSpace(*s.Expect) {
		t.Errorf("%s is %q, want %q", what, clip(got), strings.TrimSpace(*s.Expect))
	}
	if s.ExpectRegex != "" {
		if re := regexp.MustCompile(s.ExpectRegex); !re.MatchString(got) {
			t.Errorf("%s %q does not match /%s/", what, clip(got), s.ExpectRegex)
		}
	}
}

func clip(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}

func (s Spec) checkRun(t *T) {
	var out Output
	if s.Sudo {
		out = t.Sudo("/bin/sh", "-c", s.Arg)
	} else {
		out = t.Shell(s.Arg)
	}
	if out.Err != nil {
		t.Fatalf("%s: %v", s.Arg, out.Err)
	}
	if out.Exit != s.ExpectExit {
		t.Errorf("%s: exit status %d, want %d", s.Arg, out.Exit, s.ExpectExit)
	}
	s.matchText(t, "stdout", out.Stdout)
}

func (s Spec) checkFile(t *T) {
	p := s.Arg
	if !filepath.IsAbs(p) {
		p = filepath.Join(t.env.Home(), p)
	}
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatalf("%v", err)
	}
	if s.Mode != "" {
		want, _ := strconv.ParseUint(s.Mode, 8, 32)
		if got := uint64(fi.Mode().Perm()); got != want {
			t.Errorf("%s has mode %04o, want %04o", p, got, want)
		}
	}
	if s.Owner != "" {
		s.checkOwner(t, p, fi)
	}
	if s.Contains == "" && s.Expect == nil && s.ExpectRegex == "" {
		return
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v", err)
	}
	if s.Contains != "" && !strings.Contains(string(b), s.Contains) {
		t.Errorf("%s does not contain %q", p, s.Contains)
	}
	s.matchText(t, p, string(b))
}

func (s Spec) checkOwner(t *T, p string, fi os.FileInfo) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		t.Errorf("cannot read the owner of %s", p)
		return
	}
	uid := strconv.FormatUint(uint64(st.Uid), 10)
	name := uid
	if u, err := user.LookupId(uid); err == nil {
		name = u.Username
	}
	if s.Owner != name && s.Owner != uid {
		t.Errorf("%s is owned by %s, want %s", p, name, s.Owner)
	}
}

func (s Spec) checkPort(t *T) {
	host, port, _ := splitPort(s.Arg)
	addr := net.JoinHostPort(host, port)
	c, err := dialTCP(t, addr)
	if err != nil {
		t.Fatalf("nothing listens on %s: %v", addr, err)
	}
	c.Close()
}

// conn is a connection a check made: a net.Conn, or on Linux an *os.File
// (see connectTCP).
type conn interface {
	io.ReadWriteCloser
	SetDeadline(time.Time) error
}

// dialTCP connects to an IP address and port, or localhost's. The agent
// carries no DNS resolver: net's would add a third to its size, and a node
// test checks the node itself.
func dialTCP(t *T, hostport string) (conn, error) {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return nil, err
	}
	if host == "localhost" {
		host = "127.0.0.1"
	}
	ap, err := netip.ParseAddrPort(net.JoinHostPort(host, port))
	if err != nil {
		return nil, fmt.Errorf("%s: give an IP address or localhost; node tests do not resolve host names", hostport)
	}
	type dialed struct {
		c   conn
		err error
	}
	ch := make(chan dialed, 1)
	go func() {
		c, err := connectTCP(ap)
		ch <- dialed{c, err}
	}()
	select {
	case d := <-ch:
		return d.c, d.err
	case <-t.Context().Done():
		go func() {
			if d := <-ch; d.c != nil {
				d.c.Close()
			}
		}()
		return nil, t.Context().Err()
	}
}

func (s Spec) checkPython(t *T) {
	f := strings.Fields(s.Arg)
	venv, module := f[0], f[1]
	py := venv
	if !filepath.IsAbs(py) {
		py = filepath.Join(t.env.Home(), py)
	}
	py = filepath.Join(py, "bin", "python")
	if _, err := os.Stat(py); err != nil {
		t.Fatalf("no venv at %s: %v", filepath.Dir(filepath.Dir(py)), err)
	}
	out := t.Exec(py, "-c", "import "+module)
	if out.Err != nil || out.Exit != 0 {
		t.Fatalf("%s does not import in %s (exit %d%s); see the output", module, venv, out.Exit, errText(out.Err))
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return ": " + err.Error()
}

// checkHTTP asks with a plain HTTP/1.0 GET: a one-shot request whose answer
// ends when the connection does, which needs no HTTP client library in the
// agent (net/http would double its size).
func (s Spec) checkHTTP(t *T) {
	u, err := url.Parse(s.Arg)
	if err != nil || u.Host == "" {
		t.Fatalf("bad URL %q", s.Arg)
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "80")
	}
	status, body, err := httpGet(t, host, u)
	if err != nil {
		t.Fatalf("GET %s: %v", s.Arg, err)
	}
	if status != s.ExpectStatus {
		t.Errorf("GET %s: status %d, want %d", s.Arg, status, s.ExpectStatus)
	}
	s.matchText(t, "the body", body)
}

func httpGet(t *T, host string, u *url.URL) (int, string, error) {
	c, err := dialTCP(t, host)
	if err != nil {
		return 0, "", err
	}
	defer c.Close()
	if dl, ok := t.Context().Deadline(); ok {
		c.SetDeadline(dl)
	} else {
		c.SetDeadline(time.Now().Add(DefaultTimeout))
	}
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: conc-nodetest\r\nConnection: close\r\n\r\n", u.RequestURI(), u.Host); err != nil {
		return 0, "", err
	}
	br := bufio.NewReader(c)
	line, err := br.ReadString('\n')
	if err != nil {
		return 0, "", fmt.Errorf("read the status line: %w", err)
	}
	f := strings.Fields(line)
	if len(f) < 2 || !strings.HasPrefix(f[0], "HTTP/") {
		return 0, "", fmt.Errorf("not an HTTP answer: %q", clip(line))
	}
	status, err := strconv.Atoi(f[1])
	if err != nil {
		return 0, "", fmt.Errorf("bad status in %q", clip(line))
	}
	for {
		h, err := br.ReadString('\n')
		if err != nil {
			return status, "", fmt.Errorf("read the headers: %w", err)
		}
		if strings.TrimSpace(h) == "" {
			break
		}
	}
	body, err := io.ReadAll(io.LimitReader(br, 1<<20))
	if err != nil {
		return status, "", fmt.Errorf("read the body: %w", err)
	}
	return status, string(body), nil
}
