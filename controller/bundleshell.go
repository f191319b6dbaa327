package controller

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/concdeploy/conc/bundle"
	"github.com/concdeploy/conc/jobs"
	"github.com/pkg/sftp"
)

// maxLinks bounds the symlinks followed while resolving one path, as the
// kernel's ELOOP does.
const maxLinks = 40

// Errors of the bundle shell.
var (
	// ErrNoBundle is returned by NewBundleShell when the node has no
	// bundle: it is not locked, and the shell does not create one.
	ErrNoBundle = errors.New("there is no bundle")
	// ErrOutsideBundle is the cause of every *OutsideError.
	ErrOutsideBundle = errors.New("outside the bundle")
)

// OutsideError refuses a path of the bundle shell that is, or leads
// through a symlink to, a place outside the bundle.
type OutsideError struct {
	Path    string // as the operator gave it
	Target  string // where it leads on the node
	Symlink bool   // it leads there through a symlink
	Bundle  string // the bundle's real path on the node
}

func (e *OutsideError) Error() string {
	if e.Symlink {
		return fmt.Sprintf("%s leads through a symlink to %s, %v %s; the bundle shell only reaches files inside it",
			e.Path, e.Target, ErrOutsideBundle, e.Bundle)
	}
	return fmt.Sprintf("%s is %v %s (paths are relative to the bundle, whose top is /)", e.Path, ErrOutsideBundle, e.Bundle)
}

// Unwrap returns ErrOutsideBundle.
func (e *OutsideError) Unwrap() error { return ErrOutsideBundle }

// EditFunc runs the operator's editor on a local file and returns when the
// editor exits.
type EditFunc func(ctx context.Context, file string) error

// EditorRunner returns an EditFunc that runs $VISUAL, else $EDITOR, else
// vi, as getenv finds them. The variable may hold arguments ("code
// --wait"); they are split like shell words, and no shell runs. The editor
// gets stdin (nil for none), stdout and stderr.
func EditorRunner(getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) EditFunc {
	return func(ctx context.Context, file string) error {
		ed := getenv("VISUAL")
		if ed == "" {
			ed = getenv("EDITOR")
		}
		if ed == "" {
			ed = "vi"
		}
		argv, err := jobs.Split(ed)
		if err != nil {
			return fmt.Errorf("the editor %q: %w", ed, err)
		}
		if len(argv) == 0 {
			return fmt.Errorf("the editor %q is not a command", ed)
		}
		cmd := exec.CommandContext(ctx, argv[0], append(argv[1:], file)...)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("run the editor %s: %w", argv[0], err)
		}
		return nil
	}
}

// BundleShellConfig configures NewBundleShell.
type BundleShellConfig struct {
	Node    string // the node's name, for the prompt and messages
	Bundle  string // the bundle's path relative to the admin's home, as SFTP resolves it
	Stdin   io.Reader
	Stdout  io.Writer
	Stderr  io.Writer // where a failed command's error goes in Run
	Prompt  bool      // print a prompt: stdin is a terminal
	Edit    EditFunc  // runs the editor for edit; nil refuses edit
	TempDir string    // where edit keeps its local copy; "" for os.TempDir
}

// BundleShell is an SFTP shell rooted at a node's bundle: ls, cd, pwd,
// get, put, rm, mkdir, cat and edit, on paths that never leave the bundle,
// neither by ".." nor through a symlink. Run reads commands line by line,
// so a script can pipe them in; Exec runs one.
type BundleShell struct {
	c    *sftp.Client
	cfg  BundleShellConfig
	in   *bufio.Reader
	root string // the bundle's real path on the node
	cwd  string // relative to root; "." at the top
}

// NewBundleShell opens the shell on the bundle cfg.Bundle. A missing
// bundle is an error wrapping ErrNoBundle; it is not created.
func NewBundleShell(c *sftp.Client, cfg BundleShellConfig) (*BundleShell, error) {
	if err := bundle.CheckName(cfg.Bundle); err != nil {
		return nil, err
	}
	fi, err := c.Stat(cfg.Bundle)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s is not locked: %w ~/%s", cfg.Node, ErrNoBundle, cfg.Bundle)
	}
	if err != nil {
		return nil, fmt.Errorf("look for the bundle ~/%s on %s: %w", cfg.Bundle, cfg.Node, err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("the bundle ~/%s on %s is not a directory", cfg.Bundle, cfg.Node)
	}
	abs, err := c.RealPath(cfg.Bundle)
	if err != nil {
		return nil, fmt.Errorf("resolve the bundle ~/%s on %s: %w", cfg.Bundle, cfg.Node, err)
	}
	root, err := walkLinks(c, "/", strings.TrimPrefix(abs, "/"), true)
	if err != nil {
		return nil, fmt.Errorf("resolve the bundle ~/%s on %s: %w", cfg.Bundle, cfg.Node, err)
	}
	if cfg.Stdin == nil {
		cfg.Stdin = strings.NewReader("")
	}
	return &BundleShell{c: c, cfg: cfg, in: bufio.NewReader(cfg.Stdin), root: root, cwd: "."}, nil
}

// Run reads commands from stdin until exit, quit or the end of the input.
// A failed command prints "conc: ..." on stderr and the shell goes on;
// when there is no prompt (a script), Run then returns an error at the
// end, so that the failure shows in the exit code.
func (s *BundleShell) Run(ctx context.Context) error {
	if s.cfg.Prompt {
		fmt.Fprintf(s.cfg.Stdout, "SFTP shell in ~/%s on %s; help lists the commands.\n", s.cfg.Bundle, s.cfg.Node)
	}
	failed := 0
	for ctx.Err() == nil {
		if s.cfg.Prompt {
			fmt.Fprintf(s.cfg.Stdout, "bundle %s:%s> ", s.cfg.Node, s.pwd())
		}
		line, err := s.in.ReadString('\n')
		if line == "" && err != nil {
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
// CheckBundleCommand.
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

// CheckBundleCommand checks a command's name and number of arguments;
// oneShot also requires a command that makes sense on its own.
func CheckBundleCommand(args []string, oneShot bool) error {
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
func (s *BundleShell) Exec(ctx context.Context, args []string) error {
	if err := CheckBundleCommand(args, false); err != nil {
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
	if err != nil {
		return fmt.Errorf("%s: %w", args[0], err)
	}
	return nil
}

func (s *BundleShell) help() {
	for _, c := range shellCommands {
		fmt.Fprintf(s.cfg.Stdout, "  %-22s %s\n", strings.TrimSpace(c.name+" "+c.args), c.help)
	}
	fmt.Fprintln(s.cfg.Stdout, "Paths are relative to the directory; / is the top of the bundle. Quote a name with spaces.")
}

func (s *BundleShell) pwd() string {
	if s.cwd == "." {
		return "/"
	}
	return "/" + s.cwd
}

func (s *BundleShell) ls(args []string) error {
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
func (s *BundleShell) printEntry(full string, fi fs.FileInfo, name string) {
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

func (s *BundleShell) cd(args []string) error {
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
		return fmt.Errorf("%s is not a directory", args[0])
	}
	s.cwd = relTo(s.root, real)
	return nil
}

// regular resolves p and checks that it is a regular file.
func (s *BundleShell) regular(p string) (string, fs.FileInfo, error) {
	real, err := s.resolve(p, true)
	if err != nil {
		return "", nil, err
	}
	fi, err := s.c.Stat(real)
	if err != nil {
		return "", nil, err
	}
	if !fi.Mode().IsRegular() {
		return "", nil, fmt.Errorf("%s is not a regular file", p)
	}
	return real, fi, nil
}

func (s *BundleShell) cat(ctx context.Context, p string) error {
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

func (s *BundleShell) get(ctx context.Context, args []string) error {
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
	return s.download(ctx, real, local, fi.Mode().Perm())
}

// download copies src on the node to the local file dst, with pkg/sftp's
// concurrent reads, through a temporary file renamed over dst.
func (s *BundleShell) download(ctx context.Context, src, dst string, mode fs.FileMode) error {
	in, err := s.c.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".conc-get-*")
	if err != nil {
		return err
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
		return ctxErr(ctx, fmt.Errorf("write %s: %w", dst, err))
	}
	return nil
}

func (s *BundleShell) put(ctx context.Context, args []string) error {
	lf, err := os.Open(args[0])
	if err != nil {
		return err
	}
	defer lf.Close()
	lfi, err := lf.Stat()
	if err != nil {
		return err
	}
	if !lfi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", args[0])
	}
	remote := filepath.Base(args[0])
	if len(args) == 2 {
		remote = args[1]
	}
	real, err := s.resolve(remote, true)
	if err != nil {
		return err
	}
	if fi, err := s.c.Stat(real); err == nil && fi.IsDir() {
		if real, err = s.resolve(path.Join(remote, filepath.Base(args[0])), true); err != nil {
			return err
		}
	}
	if fi, err := s.c.Stat(path.Dir(real)); err != nil || !fi.IsDir() {
		return fmt.Errorf("%s: there is no directory %s", remote, path.Dir(real))
	}
	return s.upload(ctx, real, lf, lfi.Mode().Perm())
}

// upload writes r to dst on the node under a temporary name in the same
// directory, with pkg/sftp's concurrent writes, then renames it over dst
// with PosixRename, so that a reader on the node never sees half a file.
// The bundle is 0700, so the temporary file is private before its chmod.
func (s *BundleShell) upload(ctx context.Context, dst string, r io.Reader, mode fs.FileMode) error {
	tmp := path.Join(path.Dir(dst), ".conc-tmp-"+randHex(6)+"-"+path.Base(dst))
	f, err := s.c.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
	if err != nil {
		return fmt.Errorf("create %s: %w", tmp, err)
	}
	stop := context.AfterFunc(ctx, func() { f.Close() })
	_, err = f.ReadFrom(r)
	stop()
	if err == nil {
		err = f.Chmod(mode)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = s.c.PosixRename(tmp, dst)
	}
	if err != nil {
		s.c.Remove(tmp)
		return ctxErr(ctx, fmt.Errorf("write %s: %w", dst, err))
	}
	return nil
}

func (s *BundleShell) rm(args []string) error {
	recursive := len(args) == 2
	p := args[len(args)-1]
	real, err := s.resolve(p, false)
	if err != nil {
		return err
	}
	if real == s.root {
		return fmt.Errorf("%s is the bundle itself, the node's lock; conc unlock removes it", p)
	}
	fi, err := s.c.Lstat(real)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return s.c.Remove(real)
	}
	if !recursive {
		return fmt.Errorf("%s is a directory; rm -r removes it with everything in it", p)
	}
	// RemoveAll lists with lstat: a symlink in the tree is removed, never
	// followed.
	return s.c.RemoveAll(real)
}

func (s *BundleShell) mkdir(p string) error {
	real, err := s.resolve(p, false)
	if err != nil {
		return err
	}
	return s.c.Mkdir(real)
}

// edit downloads p to a private local file, runs the editor on it and, if
// the content changed, writes it back atomically with the remote file's
// mode (0600 for a new file). The local copy is removed afterwards, except
// when the file changed on the node during the edit: then it is kept, and
// nothing is written.
func (s *BundleShell) edit(ctx context.Context, p string) error {
	if s.cfg.Edit == nil {
		return errors.New("no editor here")
	}
	real, err := s.resolve(p, true)
	if err != nil {
		return err
	}
	before, err := s.c.Stat(real)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		before = nil
	case err != nil:
		return err
	case !before.Mode().IsRegular():
		return fmt.Errorf("%s is not a regular file", p)
	}
	tmp, err := os.CreateTemp(s.cfg.TempDir, "conc-edit-*-"+path.Base(real))
	if err != nil {
		return err
	}
	keep := false
	defer func() {
		if !keep {
			os.Remove(tmp.Name())
		}
	}()
	sum, err := s.fetchForEdit(ctx, real, before, tmp)
	if err != nil {
		return err
	}
	if err := s.cfg.Edit(ctx, tmp.Name()); err != nil {
		return fmt.Errorf("%w; %s not written", err, p)
	}
	data, err := os.ReadFile(tmp.Name())
	if err != nil {
		return err
	}
	if sha256.Sum256(data) == sum {
		fmt.Fprintf(s.cfg.Stdout, "%s unchanged\n", p)
		return nil
	}
	if changedSince(s.c, real, before) {
		keep = true
		return fmt.Errorf("%s changed on the node while you edited it; nothing written, your version is in %s", p, tmp.Name())
	}
	mode := fs.FileMode(0o600)
	if before != nil {
		mode = before.Mode().Perm()
	}
	if err := s.upload(ctx, real, bytes.NewReader(data), mode); err != nil {
		return err
	}
	fmt.Fprintf(s.cfg.Stdout, "%s written (%d bytes)\n", p, len(data))
	return nil
}

// fetchForEdit copies the remote file, if there is one, into the local
// temporary file tmp and closes it; it returns the content's sha256.
func (s *BundleShell) fetchForEdit(ctx context.Context, real string, fi fs.FileInfo, tmp *os.File) ([sha256.Size]byte, error) {
	h := sha256.New()
	var err error
	if fi != nil {
		var in *sftp.File
		if in, err = s.c.Open(real); err == nil {
			stop := context.AfterFunc(ctx, func() { in.Close() })
			_, err = in.WriteTo(io.MultiWriter(tmp, h))
			stop()
			in.Close()
		}
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	var sum [sha256.Size]byte
	copy(sum[:], h.Sum(nil))
	return sum, ctxErr(ctx, err)
}

// changedSince reports whether the remote file is no longer the one
// described by before (nil: there was none).
func changedSince(c *sftp.Client, p string, before fs.FileInfo) bool {
	now, err := c.Stat(p)
	if before == nil {
		return err == nil
	}
	return err != nil || now.Size() != before.Size() || !now.ModTime().Equal(before.ModTime())
}

// resolve returns the real path on the node of p, as typed in the shell,
// refusing any path that leaves the bundle. Every symlink on the way is
// followed, and the last one too with follow; a part that does not exist
// yet is kept as it is, so only its existing parent counts.
func (s *BundleShell) resolve(p string, follow bool) (string, error) {
	rel, err := bundlePath(s.root, s.cwd, p)
	if err != nil {
		return "", err
	}
	real, err := walkLinks(s.c, s.root, rel, follow)
	var oe *OutsideError
	if errors.As(err, &oe) {
		oe.Path = p
	}
	if err != nil {
		return "", err
	}
	// Check against the server's own realpath too, where it resolves
	// links (OpenSSH does): the parent only when the last link is kept.
	check := real
	if !follow && real != s.root {
		check = path.Dir(real)
	}
	if sr, err := s.c.RealPath(check); err == nil && !within(s.root, sr) {
		return "", &OutsideError{Path: p, Target: sr, Symlink: true, Bundle: s.root}
	}
	return real, nil
}

// bundlePath resolves p, typed in the directory cwd (relative to the
// bundle, "." at its top), to a clean path relative to the bundle, without
// asking the node. An absolute path must lie in the bundle, whose real
// path is root, except "/" alone, which is the top of the bundle, as pwd
// shows it.
func bundlePath(root, cwd, p string) (string, error) {
	if path.IsAbs(p) {
		c := path.Clean(p)
		if c == "/" || c == root {
			return ".", nil
		}
		if within(root, c) {
			return relTo(root, c), nil
		}
		return "", &OutsideError{Path: p, Target: c, Bundle: root}
	}
	c := path.Join(cwd, p)
	if c == ".." || strings.HasPrefix(c, "../") {
		return "", &OutsideError{Path: p, Target: path.Join(root, c), Bundle: root}
	}
	return c, nil
}

// walkLinks returns the real path of root/rel. It resolves symlinks one
// component at a time with Lstat and ReadLink, because some servers
// (pkg/sftp's) answer realpath without looking at links. root is a real
// path, and the result stays under it or walkLinks returns an
// *OutsideError; a link that leaves root gets one more chance through the
// server's realpath, for a way out that comes back in. Components that do
// not exist are kept as they are; with follow false, so is the last one.
func walkLinks(c *sftp.Client, root, rel string, follow bool) (string, error) {
	cur, todo := root, splitPath(rel)
	for links := 0; len(todo) > 0; {
		name := todo[0]
		todo = todo[1:]
		if name == ".." {
			if cur != root {
				cur = path.Dir(cur)
				continue
			}
			if root == "/" {
				continue
			}
			var err error
			if todo, err = reenter(c, root, path.Join(append([]string{path.Dir(root)}, todo...)...)); err != nil {
				return "", err
			}
			continue
		}
		next := path.Join(cur, name)
		if len(todo) == 0 && !follow {
			return next, nil
		}
		fi, err := c.Lstat(next)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			cur = next
			continue
		case err != nil:
			return "", err
		case fi.Mode()&fs.ModeSymlink == 0:
			cur = next
			continue
		}
		if links++; links > maxLinks {
			return "", fmt.Errorf("%s: too many levels of symlinks", next)
		}
		target, err := c.ReadLink(next)
		if err != nil {
			return "", err
		}
		if !path.IsAbs(target) {
			todo = append(splitPath(target), todo...)
			continue
		}
		dest := path.Clean(target)
		if !within(root, dest) {
			if todo, err = reenter(c, root, path.Join(append([]string{dest}, todo...)...)); err != nil {
				return "", err
			}
		} else {
			todo = append(splitPath(relTo(root, dest)), todo...)
		}
		cur = root
	}
	return cur, nil
}

// reenter is the way back for a walk that left root at dest: the rest of
// the walk, relative to root, when the server's realpath puts dest inside.
func reenter(c *sftp.Client, root, dest string) ([]string, error) {
	sr, err := c.RealPath(dest)
	if err == nil && within(root, sr) {
		return splitPath(relTo(root, sr)), nil
	}
	if err == nil {
		dest = sr
	}
	return nil, &OutsideError{Target: dest, Symlink: true, Bundle: root}
}

// within reports whether the clean absolute path p is root or below it.
func within(root, p string) bool {
	return p == root || root == "/" && path.IsAbs(p) || strings.HasPrefix(p, root+"/")
}

// relTo is p relative to root, which holds it; "." for root itself.
func relTo(root, p string) string {
	switch {
	case p == root:
		return "."
	case root == "/":
		return p[1:]
	}
	return p[len(root)+1:]
}

// splitPath returns the components of a slash-separated path, without
// empty ones and ".".
func splitPath(p string) []string {
	var out []string
	for _, c := range strings.Split(p, "/") {
		if c != "" && c != "." {
			out = append(out, c)
		}
	}
	return out
}

// ctxErr prefers the context's cause to the error a canceled transfer
// ends with.
func ctxErr(ctx context.Context, err error) error {
	if err != nil && ctx.Err() != nil {
		return context.Cause(ctx)
	}
	return err
}
