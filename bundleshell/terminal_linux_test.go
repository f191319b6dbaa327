package bundleshell

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/concdeploy/conc/internal/sftptest"
	"golang.org/x/sys/unix"
)

// openPty opens a pseudo-terminal pair: the master, where the test types
// and reads, and the slave, the shell's terminal.
func openPty(tb testing.TB) (master, slave *os.File) {
	tb.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		tb.Skipf("no pseudo-terminals here: %v", err)
	}
	tb.Cleanup(func() { master.Close() })
	if err := unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		tb.Fatalf("unlockpt: %v", err)
	}
	n, err := unix.IoctlGetInt(int(master.Fd()), unix.TIOCGPTN)
	if err != nil {
		tb.Fatalf("ptsname: %v", err)
	}
	slave, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { slave.Close() })
	return master, slave
}

// screen collects what the terminal shows, for waitFor.
type screen struct {
	mu      sync.Mutex
	out     strings.Builder
	changed chan struct{}
}

func readScreen(f *os.File) *screen {
	sc := &screen{changed: make(chan struct{}, 1)}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := f.Read(buf)
			sc.mu.Lock()
			sc.out.Write(buf[:n])
			sc.mu.Unlock()
			select {
			case sc.changed <- struct{}{}:
			default:
			}
			if err != nil {
				return
			}
		}
	}()
	return sc
}

func (sc *screen) String() string {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	return sc.out.String()
}

// waitFor waits, at most 10 s, until the screen shows want n times.
func (sc *screen) waitFor(tb testing.TB, want string, n int) {
	tb.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for strings.Count(sc.String(), want) < n {
		select {
		case <-sc.changed:
		case <-deadline.C:
			tb.Fatalf("after 10 s the terminal shows %q %d times, want %d; it shows:\n%q", want, strings.Count(sc.String(), want), n, sc.String())
		}
	}
}

func TestBundleShellOnATerminal(t *testing.T) {
	master, slave := openPty(t)
	before, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	home, _ := sftptest.LinkedHome(t)
	sh, err := New(sftptest.Pipe(t, home), Config{Node: "node1", Bundle: ".conc-bundle",
		Stdin: slave, Stdout: slave, Stderr: slave, Terminal: slave})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- sh.Run(context.Background()) }()
	sc := readScreen(master)
	const prompt = "bundle node1:/> "
	typed := func(keys string, prompts int) {
		t.Helper()
		if _, err := master.WriteString(keys); err != nil {
			t.Fatal(err)
		}
		sc.waitFor(t, prompt, prompts)
	}

	sc.waitFor(t, prompt, 1)
	typed("cat sub/f.txt\r", 2)
	sc.waitFor(t, "inside\r\n", 1)
	typed("\x1b[A\r", 3) // Up arrow, Enter: the same command again
	sc.waitFor(t, "inside\r\n", 2)
	typed("cat cur\t", 3)
	sc.waitFor(t, "cat current/", 1)
	typed("f\t\r", 4)
	sc.waitFor(t, "cat current/f.txt ", 1)
	sc.waitFor(t, "inside\r\n", 3)
	typed("c\t", 5) // two commands start with c: Tab lists them above a new prompt
	sc.waitFor(t, "cat  cd\r\n", 1)
	if _, err := master.WriteString("\x15\x04"); err != nil { // Ctrl-U empties the line, Ctrl-D leaves
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("the shell did not end on Ctrl-D; the terminal shows:\n%q", sc.String())
	}
	after, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	if after.Lflag != before.Lflag || after.Iflag != before.Iflag || after.Oflag != before.Oflag {
		t.Errorf("the terminal was left changed: lflag %#x iflag %#x oflag %#x; want %#x %#x %#x",
			after.Lflag, after.Iflag, after.Oflag, before.Lflag, before.Iflag, before.Oflag)
	}
}
