// Package bundleshell is conc bundle: a shell of its own over SFTP, rooted
// at a node's bundle, with ls, cd, get, put, rm, cat and edit, that no path
// can leave. It never creates a bundle, so it cannot lock a node.
package bundleshell

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"github.com/concdeploy/conc/internal/bytesize"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/concdeploy/conc/bundle"
	"github.com/concdeploy/conc/bundlefs"
	"github.com/concdeploy/conc/jobs"
	"github.com/pkg/sftp"
)

// Errors of the bundle shell.
var (
	// ErrNoBundle is returned by New when the node has no
	// bundle: it is not locked, and the shell does not create one.
	ErrNoBundle = errors.New("there is no bundle")
)

// Config configures New.
type Config struct {
	Node   string // the node's name, for the prompt and messages
	Bundle string // the bundle's path relative to the admin's home, as SFTP resolves it
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer // where a failed command's error goes in Run
	Prompt bool      // print a prompt: stdin is a terminal
	// Terminal is stdin when it is a terminal: lines are then read with
	// line editing, history and Tab completion, and Prompt is implied.
	// nil reads plain lines from Stdin.
	Terminal *os.File
	Edit     EditFunc // runs the editor for edit; nil refuses edit
	TempDir  string   // where edit keeps its local copy; "" for os.TempDir
}

// Shell is an SFTP shell rooted at a node's bundle: ls, cd, pwd,
// get, put, rm, mkdir, cat and edit, on paths that never leave the bundle,
// neither by ".." nor through a symlink. Run reads commands line by line,
// so a script can pipe them in; Exec runs one.
type Shell struct {
	c    *sftp.Client
	cfg  Config
	in   *bufio.Reader
	root *bundlefs.Root
	cwd  string // relative to root; "." at the top
}

// New opens the shell on the bundle cfg.Bundle. A missing
// bundle is an error wrapping ErrNoBundle; it is not created.
func New(c *sftp.Client, cfg Config) (*Shell, error) {
	if err := bundle.CheckName(cfg.Bundle); err != nil {
		return nil, err
	}
	root, err := bundlefs.OpenRoot(c, cfg.Bundle, "the bundle")
	if errors.Is(err, bundlefs.ErrNoRoot) {
		return nil, fmt.Errorf("%s is not locked: %w ~/%s", cfg.Node, ErrNoBundle, cfg.Bundle)
	}
	if err != nil {
		return nil, fmt.Errorf("the bundle ~/%s on %s: %w", cfg.Bundle, cfg.Node, err)
	}
	if cfg.Stdin == nil {
		cfg.Stdin = strings.NewReader("")
	}
	cfg.Prompt = cfg.Prompt || cfg.Terminal != nil
	return &Shell{c: c, cfg: cfg, in: bufio.NewReader(cfg.Stdin), root: root, cwd: "."}, nil
}

// Run reads commands from stdin until exit, quit or the end of the input.
// A failed command prints "conc: ..." on stderr and the shell goes on;
// when there is no prompt (a script), Run then returns an error at the
// end, so that the failure shows in the exit code.
func (s *Shell) Run(ctx context.Context) error {
	if s.cfg.Prompt {
		fmt.Fprintf(s.cfg.Stdout, "SFTP shell in ~/%s on %s; help lists the commands.\n", s.cfg.Bundle, s.cfg.Node)
	}
	var lines lineReader = &plainLines{in: s.in, out: s.cfg.Stdout}
	if s.cfg.Terminal != nil {
		tl := newTermLines(s.cfg.Terminal, s.cfg.Stdout)
		tl.t.AutoCompleteCallback = s.tabCompleter(ctx, tl.t)
		lines = tl
	}
	failed := 0
	for ctx.Err() == nil {
		prompt := ""
		if s.cfg.Prompt {
			prompt = fmt.Sprintf("bundle %s:%s> ", s.cfg.Node, s.pwd())
		}
		line, err := lines.readLine(ctx, prompt)
		if err != nil {
			if s.cfg.Prompt {
				fmt.Fprintln(s.cfg.Stdout)
			}
			if errors.Is(err, io.EOF) {
				break
			}
			return fmt.Errorf("read commands: %w", err)
		}
		args, err := jobs.Split(line)
		if t := strings.TrimSpace(line); t == "" || t[0] == '#' {
			continue
		}
		if err == nil && (args[0] == "exit" || args[0] == "quit") {
			break
		}
		if err == nil {
			err = s.Exec(ctx, args)
		}
		if err != nil {
			fmt.Fprintf(s.cfg.Stderr, "conc: %v\n", err)
			failed++
		}
	}
	if err := context.Cause(ctx); err != nil {
		return err
	}
	if failed > 0 && !s.cfg.Prompt {
		return fmt.Errorf("%d of the script's commands failed", failed)
	}
	return nil
}

// shellCommands are the commands of the bundle shell, for help and for
// CheckCommand.
var shellCommands = []struct {
	name, args, help string
	min, max         int
	oneShot          bool // conc bundle NODE CMD runs it on its own
}{
	{"ls", "[PATH]", "list a directory, or show a file: mode, size, modification time, name", 0, 1, true},
	{"cd", "[DIR]", "change to DIR; without it, to the top of the bundle", 0, 1, false},
	{"pwd", "", "show the directory, / being the top of the bundle", 0, 0, false},
	{"get", "REMOTE [LOCAL]", "copy a file from the bundle to this machine, keeping its mode", 1, 2, true},
	{"put", "LOCAL [REMOTE]", "copy a file into the bundle, keeping its mode; it replaces the old one atomically", 1, 2, true},
	{"rm", "[-r] PATH", "remove a file or a symlink; -r removes a directory and everything in it", 1, 2, true},
	{"mkdir", "DIR", "make a directory", 1, 1, true},
	{"cat", "PATH", "print a file", 1, 1, true},
	{"edit", "PATH", "edit a file with $VISUAL, $EDITOR or vi, and write it back atomically if it changed", 1, 1, true},
	{"help", "", "list the commands", 0, 0, false},
	{"exit", "", "leave the shell; so do quit and the end of the input", 0, 0, false},
}

// CheckCommand checks a command's name and number of arguments;
// oneShot also requires a command that makes sense on its own.
func CheckCommand(args []string, oneShot bool) error {
	if len(args) == 0 {
		return errors.New("no command")
	}
	for _, c := range shellCommands {
		if c.name != args[0] {
			continue
		}
		if oneShot && !c.oneShot {
			return fmt.Errorf("%s is a command of the interactive shell only (conc bundle NODE)", c.name)
		}
		if n := len(args) - 1; n < c.min || n > c.max || c.name == "rm" && isRecursive(args[1]) != (n == 2) {
			return fmt.Errorf("usage: %s %s", c.name, c.args)
		}
		return nil
	}
	return fmt.Errorf("unknown command %q (help lists the commands)", args[0])
}

func isRecursive(flag string) bool { return flag == "-r" || flag == "-R" }

// Exec runs one command, its words already split.
func (s *Shell) Exec(ctx context.Context, args []string) error {
	if err := CheckCommand(args, false); err != nil {
		return err
	}
	var err error
	switch a := args[1:]; args[0] {
	case "ls":
		err = s.ls(a)
	case "cd":
		err = s.cd(a)
	case "pwd":
		fmt.Fprintln(s.cfg.Stdout, s.pwd())
	case "get":
		err = s.get(ctx, a)
	case "put":
		err = s.put(ctx, a)
	case "rm":
		err = s.rm(a)
	case "mkdir":
		err = s.mkdir(a[0])
	case "cat":
		err = s.cat(ctx, a[0])
	case "edit":
		err = s.edit(ctx, a[0])
	case "help":
		s.help()
	}
	if err == nil {
		return nil
	}
	if ce, ok := err.(*CommandError); ok {
		ce.Cmd = args[0]
		return ce
	}
	return &CommandError{Cmd: args[0], Path: operand(args), Err: err}
}

// operand is the path a command works on, which its errors name unless
// they say otherwise.
func operand(args []string) string {
	switch {
	case len(args) < 2:
		return ""
	case args[0] == "rm":
		return args[len(args)-1]
	}
	return args[1]
}

func (s *Shell) help() {
	for _, c := range shellCommands {
		fmt.Fprintf(s.cfg.Stdout, "  %-22s %s\n", strings.TrimSpace(c.name+" "+c.args), c.help)
	}
	fmt.Fprintln(s.cfg.Stdout, "Paths are relative to the directory; / is the top of the bundle. Quote a name with spaces.")
}

func (s *Shell) pwd() string {
	if s.cwd == "." {
		return "/"
	}
	return "/" + s.cwd
}

func (s *Shell) ls(args []string) error {
	p := "."
	if len(args) == 1 {
		p = args[0]
	}
	real, err := s.resolve(p, true)
	if err != nil {
		return err
	}
	fi, err := s.c.Lstat(real)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		s.printEntry(real, fi, p)
		return nil
	}
	entries, err := s.c.ReadDir(real)
	if err != nil {
		return err
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
	for _, e := range entries {
		s.printEntry(path.Join(real, e.Name()), e, e.Name())
	}
	return nil
}

// printEntry prints one line of ls: directories end in "/", symlinks show
// their target.
func (s *Shell) printEntry(full string, fi fs.FileInfo, name string) {
	switch {
	case fi.IsDir():
		name += "/"
	case fi.Mode()&fs.ModeSymlink != 0:
		if t, err := s.c.ReadLink(full); err == nil {
			name += " -> " + t
		}
	}
	fmt.Fprintf(s.cfg.Stdout, "%s %10d %s %s\n", modeString(fi.Mode()), fi.Size(), fi.ModTime().Format("2006-01-02 15:04"), name)
}

// modeString is the mode the way ls -l shows it.
func modeString(m fs.FileMode) string {
	t := "-"
	switch {
	case m.IsDir():
		t = "d"
	case m&fs.ModeSymlink != 0:
		t = "l"
	case m&fs.ModeNamedPipe != 0:
		t = "p"
	case m&fs.ModeSocket != 0:
		t = "s"
	case m&fs.ModeCharDevice != 0:
		t = "c"
	case m&fs.ModeDevice != 0:
		t = "b"
	}
	return t + m.Perm().String()[1:]
}

func (s *Shell) cd(args []string) error {
	if len(args) == 0 {
		s.cwd = "."
		return nil
	}
	real, err := s.resolve(args[0], true)
	if err != nil {
		return err
	}
	fi, err := s.c.Stat(real)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return errors.New("not a directory")
	}
	s.cwd = s.root.Rel(real)
	return nil
}

// regular resolves p and checks that it is a regular file.
func (s *Shell) regular(p string) (string, fs.FileInfo, error) {
	real, err := s.resolve(p, true)
	if err != nil {
		return "", nil, err
	}
	fi, err := s.c.Stat(real)
	if err != nil {
		return "", nil, err
	}
	if fi.IsDir() {
		return "", nil, errors.New("a directory, not a file")
	}
	if !fi.Mode().IsRegular() {
		return "", nil, errors.New("not a regular file")
	}
	return real, fi, nil
}

func (s *Shell) cat(ctx context.Context, p string) error {
	real, _, err := s.regular(p)
	if err != nil {
		return err
	}
	f, err := s.c.Open(real)
	if err != nil {
		return err
	}
	defer f.Close()
	stop := context.AfterFunc(ctx, func() { f.Close() })
	defer stop()
	_, err = f.WriteTo(s.cfg.Stdout)
	return ctxErr(ctx, err)
}

func (s *Shell) get(ctx context.Context, args []string) error {
	real, fi, err := s.regular(args[0])
	if err != nil {
		return err
	}
	local := path.Base(path.Clean(args[0]))
	if len(args) == 2 {
		local = args[1]
		if lfi, err := os.Stat(local); err == nil && lfi.IsDir() {
			local = filepath.Join(local, path.Base(path.Clean(args[0])))
		}
	}
	if err := s.download(ctx, real, local, fi.Mode().Perm()); err != nil {
		return err
	}
	fmt.Fprintf(s.cfg.Stdout, "get %s -> %s (%s)\n", args[0], local, bytesize.Format(fi.Size()))
	return nil
}

// download copies src on the node to the local file dst, with pkg/sftp's
// concurrent reads, through a temporary file renamed over dst.
func (s *Shell) download(ctx context.Context, src, dst string, mode fs.FileMode) error {
	in, err := s.c.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".conc-get-*")
	if err != nil {
		return failedHere(filepath.Dir(dst), err)
	}
	stop := context.AfterFunc(ctx, func() { in.Close() })
	_, err = in.WriteTo(tmp)
	stop()
	if err == nil {
		err = tmp.Chmod(mode)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), dst)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return ctxErr(ctx, failedHere(dst, err))
	}
	return nil
}

func (s *Shell) put(ctx context.Context, args []string) error {
	lf, err := os.Open(args[0])
	if err != nil {
		return failedHere(args[0], err)
	}
	defer lf.Close()
	lfi, err := lf.Stat()
	if err != nil {
		return failedHere(args[0], err)
	}
	if !lfi.Mode().IsRegular() {
		return failedHere(args[0], errors.New("not a regular file"))
	}
	remote := filepath.Base(args[0])
	if len(args) == 2 {
		remote = args[1]
	}
	real, err := s.resolve(remote, true)
	if err != nil {
		return failed(remote, err)
	}
	if fi, err := s.c.Stat(real); err == nil && fi.IsDir() {
		remote = path.Join(remote, filepath.Base(args[0]))
		if real, err = s.resolve(remote, true); err != nil {
			return failed(remote, err)
		}
	}
	if fi, err := s.c.Stat(path.Dir(real)); err != nil || !fi.IsDir() {
		return failed(remote, fmt.Errorf("there is no directory %s in the bundle", path.Join("/", s.root.Rel(path.Dir(real)))))
	}
	if err := s.upload(ctx, real, lf, lfi.Mode().Perm()); err != nil {
		return failed(remote, err)
	}
	fmt.Fprintf(s.cfg.Stdout, "put %s -> %s (%s)\n", args[0], remote, bytesize.Format(lfi.Size()))
	return nil
}

// upload writes r to dst atomically, see writeRemote.
func (s *Shell) upload(ctx context.Context, dst string, r io.Reader, mode fs.FileMode) error {
	return ctxErr(ctx, bundlefs.WriteAtomic(ctx, s.c, dst, r, mode))
}

func (s *Shell) rm(args []string) error {
	recursive := len(args) == 2
	p := args[len(args)-1]
	real, err := s.resolve(p, false)
	if err != nil {
		return err
	}
	if real == s.root.Real() {
		return errors.New("that is the bundle itself, the node's lock; conc unlock removes it")
	}
	fi, err := s.c.Lstat(real)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return s.c.Remove(real)
	}
	if !recursive {
		return errors.New("a directory; rm -r removes it with everything in it")
	}
	// RemoveAll lists with lstat: a symlink in the tree is removed, never
	// followed.
	return s.c.RemoveAll(real)
}

func (s *Shell) mkdir(p string) error {
	real, err := s.resolve(p, false)
	if err != nil {
		return err
	}
	if _, err := s.c.Lstat(real); err == nil {
		return fs.ErrExist
	}
	return s.c.Mkdir(real)
}

// resolve returns the real path on the node of p, as typed in the shell,
// refusing any path that leaves the bundle (bundlefs.Root.Resolve).
func (s *Shell) resolve(p string, follow bool) (string, error) {
	rel, err := s.root.Join(s.cwd, p)
	if err == nil {
		var real string
		if real, err = s.root.Resolve(rel, follow); err == nil {
			return real, nil
		}
	}
	var oe *bundlefs.OutsideError
	if errors.As(err, &oe) {
		oe.Path = p
	}
	return "", err
}

// ctxErr prefers the context's cause to the error a canceled transfer
// ends with.
func ctxErr(ctx context.Context, err error) error {
	if err != nil && ctx.Err() != nil {
		return context.Cause(ctx)
	}
	return err
}
