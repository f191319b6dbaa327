package bundleshell

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"
)

// lineReader reads the shell's command lines.
type lineReader interface {
	// readLine returns the next line, io.EOF at the end of the input.
	readLine(ctx context.Context, prompt string) (string, error)
}

// plainLines reads lines as they come, for a script piped in; a prompt,
// if any, is printed as it is.
type plainLines struct {
	in  *bufio.Reader
	out io.Writer
}

func (l *plainLines) readLine(_ context.Context, prompt string) (string, error) {
	if prompt != "" {
		fmt.Fprint(l.out, prompt)
	}
	line, err := l.in.ReadString('\n')
	if line != "" {
		return line, nil
	}
	return "", err
}

// termLines reads lines from a terminal with golang.org/x/term's line
// editor: arrows, history (Up and Down) and Tab completion. The terminal
// is in raw mode only while a line is read, so a command's output, the
// editor and Ctrl-C during a command see it as usual; it is restored when
// the line ends, the input ends, on an error, a panic, or when ctx ends
// (a SIGTERM) while the line is being typed.
type termLines struct {
	f *os.File
	t *term.Terminal
}

func newTermLines(f *os.File, out io.Writer) *termLines {
	t := term.NewTerminal(struct {
		io.Reader
		io.Writer
	}{f, out}, "")
	return &termLines{f: f, t: t}
}

func (l *termLines) readLine(ctx context.Context, prompt string) (string, error) {
	fd := int(l.f.Fd())
	old, err := term.MakeRaw(fd)
	if err != nil {
		return "", fmt.Errorf("put the terminal in raw mode: %w", err)
	}
	defer term.Restore(fd, old)
	stop := context.AfterFunc(ctx, func() { term.Restore(fd, old) })
	defer stop()
	if w, h, err := term.GetSize(fd); err == nil && w > 0 && h > 0 { // a fresh pty says 0x0
		l.t.SetSize(w, h)
	}
	l.t.SetPrompt(prompt)
	line, err := l.t.ReadLine()
	if err == term.ErrPasteIndicator {
		err = nil
	}
	return line, err
}

// tabCompleter is the AutoCompleteCallback of the terminal: Tab completes
// (completeLine) and, when it cannot go further, lists the candidates
// above the prompt; other keys are left to the line editor.
func (s *Shell) tabCompleter(ctx context.Context, w io.Writer) func(string, int, rune) (string, int, bool) {
	return func(line string, pos int, key rune) (string, int, bool) {
		if key != '\t' {
			return "", 0, false
		}
		c := completeLine(line, pos, s.remoteEntries(ctx), localEntries)
		switch {
		case c.note != "":
			fmt.Fprintf(w, "conc: %s\n", c.note)
		case c.shown != nil:
			fmt.Fprintln(w, strings.Join(c.shown, "  "))
		}
		return c.line, c.pos, true
	}
}
