package jobs

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
)

// Sudo runs c as root through sudo. When sudo can run without a password
// (NOPASSWD, root, a cached ticket) the command gets no stdin at all. Else
// sudo asks with a prompt unique to this call, on its stderr; the password
// is written to its stdin once, only when that prompt appears, and stdin is
// then closed. A second prompt means the password was refused: the command
// is killed and the job FAILED, never left waiting.
func Sudo(ctx context.Context, env Env, c Command) Result {
	if c.Stdout == nil {
		c.Stdout = env.Output()
	}
	if c.Stderr == nil {
		c.Stderr = env.Output()
	}
	probe := Command{Argv: []string{"sudo", "-n", "true"}, Dir: c.Dir, Stdout: io.Discard, Stderr: io.Discard}
	if code, err := env.Exec(ctx, probe); err == nil && code == 0 {
		c.Argv = append([]string{"sudo", "-n", "--"}, c.Argv...)
		return ExitResult(env.Exec(ctx, c))
	}
	pw := env.SudoPassword()
	if pw == nil {
		return Resultf(Failed, "sudo needs a password and none was given (conc asks for it when a plan uses sudo; or use --sudo-password-file)")
	}
	prompt := newPrompt()
	stdin, stdinW := io.Pipe()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w := &promptWatcher{prompt: prompt, next: c.Stderr}
	w.onPrompt = func(n int) {
		if n == 1 {
			go func() {
				stdinW.Write(append(append([]byte(nil), pw...), '\n'))
				stdinW.Close()
			}()
			return
		}
		w.refused = true
		cancel()
	}
	c.Argv = append([]string{"sudo", "-S", "-p", string(prompt), "--"}, c.Argv...)
	c.Stdin, c.Stderr = stdin, w
	code, err := env.Exec(ctx, c)
	stdinW.Close()
	w.flush()
	if w.wasRefused() {
		return Result{Status: Failed, ExitCode: -1, Message: "sudo refused the password: wrong sudo password for " + env.Params()["admin"] + "?"}
	}
	return ExitResult(code, err)
}

// newPrompt makes sudo's prompt unique to one call, so that no output of
// the command can be mistaken for it. math/rand/v2's generator is ChaCha8,
// seeded by the runtime from the system's entropy; crypto/rand would add its
// FIPS machinery to the agent for no gain here.
func newPrompt() []byte {
	return []byte(fmt.Sprintf("[conc-sudo %016x]", rand.Uint64()))
}

// promptWatcher passes a command's stderr on, minus sudo's prompt, and
// counts the prompts it sees.
type promptWatcher struct {
	prompt   []byte
	next     io.Writer
	onPrompt func(n int)

	mu      sync.Mutex
	carry   []byte
	seen    int
	refused bool
}

func (w *promptWatcher) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	data := append(w.carry, p...)
	w.carry = nil
	for {
		i := bytes.Index(data, w.prompt)
		if i < 0 {
			break
		}
		w.next.Write(data[:i])
		data = data[i+len(w.prompt):]
		w.seen++
		w.onPrompt(w.seen)
	}
	// Hold back a tail that could be the start of a prompt split across
	// writes.
	keep := min(len(w.prompt)-1, len(data))
	for ; keep > 0; keep-- {
		if bytes.HasPrefix(w.prompt, data[len(data)-keep:]) {
			break
		}
	}
	w.next.Write(data[:len(data)-keep])
	w.carry = append([]byte(nil), data[len(data)-keep:]...)
	return len(p), nil
}

// flush passes on what was held back as a possible prompt start.
func (w *promptWatcher) flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.next.Write(w.carry)
	w.carry = nil
}

func (w *promptWatcher) wasRefused() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.refused
}
