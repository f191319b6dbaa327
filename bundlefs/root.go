package bundlefs

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/pkg/sftp"
)

// maxLinks bounds the symlinks followed while resolving one path, as the
// kernel's ELOOP does.
const maxLinks = 40

// Errors of a Root.
var (
	// ErrNoRoot is wrapped by OpenRoot's error when the directory is not
	// there: for the bundle, the node is not locked.
	ErrNoRoot = errors.New("the directory is not there")
	// ErrOutside is the cause of every *OutsideError.
	ErrOutside = errors.New("outside")
)

// OutsideError refuses a path that is, or leads through a symlink to, a
// place outside its Root.
type OutsideError struct {
	Path    string // as the operator gave it
	Target  string // where it leads on the node
	Symlink bool   // it leads there through a symlink
	Of      string // what the root is: "the bundle"
	Root    string // the root's real path on the node
}

func (e *OutsideError) Error() string {
	if e.Symlink {
		return fmt.Sprintf("%s leads through a symlink to %s, %v %s %s; conc reaches only what is inside it",
			e.Path, e.Target, ErrOutside, e.Of, e.Root)
	}
	return fmt.Sprintf("%s is %v %s %s (paths are relative to it, whose top is /)", e.Path, ErrOutside, e.Of, e.Root)
}

// Unwrap returns ErrOutside.
func (e *OutsideError) Unwrap() error { return ErrOutside }

// Root is a directory on the node, reached over SFTP by its real path, in
// which every path stays: not by "..", not through a symbolic link, however
// the link was made. It is to SFTP what os.Root is to the local file
// system, and it is the one definition of "inside the bundle" for the
// workstation's side: put, copy_product and the bundle shell go through a
// Root of the bundle, template's relative paths through one of the home
// directory.
type Root struct {
	c    *sftp.Client
	real string
	of   string // what it is, for errors: "the bundle"
}

// OpenRoot opens the directory dir on the node: relative to the SFTP
// session's working directory, the admin's home, or "." for the home
// itself. of names it in errors ("the bundle"). A missing directory is an
// error wrapping ErrNoRoot; it is never created.
func OpenRoot(c *sftp.Client, dir, of string) (*Root, error) {
	fi, err := c.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNoRoot, dir)
	}
	if err != nil {
		return nil, fmt.Errorf("look for %s: %w", dir, err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("%s is not a directory", dir)
	}
	abs, err := c.RealPath(dir)
	if err != nil {
		return nil, fmt.Errorf("resolve %s: %w", dir, err)
	}
	real, err := walkLinks(c, "/", strings.TrimPrefix(abs, "/"), true)
	if err != nil {
		return nil, fmt.Errorf("resolve %s: %w", dir, err)
	}
	return &Root{c: c, real: real, of: of}, nil
}

// Real is the root's real path on the node.
func (r *Root) Real() string { return r.real }

// Rel is the real path p, inside the root, relative to it: "." for the root.
func (r *Root) Rel(p string) string { return relTo(r.real, p) }

// Resolve returns the real path on the node of rel, a path relative to the
// root, refusing with an *OutsideError any path that leaves it. Every
// symlink on the way is followed, and the last one too with follow; a part
// that does not exist yet is kept as it is, so only its existing parent
// counts. Without follow, a write to the result replaces a link there
// instead of writing where it points.
func (r *Root) Resolve(rel string, follow bool) (string, error) {
	real, err := walkLinks(r.c, r.real, rel, follow)
	var oe *OutsideError
	if errors.As(err, &oe) {
		oe.Path, oe.Of = rel, r.of
	}
	if err != nil {
		return "", err
	}
	// Check against the server's own realpath too, where it resolves
	// links (OpenSSH does): the parent only when the last link is kept.
	check := real
	if !follow && real != r.real {
		check = path.Dir(real)
	}
	if sr, err := r.c.RealPath(check); err == nil && !within(r.real, sr) {
		return "", &OutsideError{Path: rel, Target: sr, Symlink: true, Of: r.of, Root: r.real}
	}
	return real, nil
}

// Join resolves p, typed in the directory cwd (relative to the root, "."
// at its top), to a clean path relative to the root, without asking the
// node. An absolute p must lie in the root, whose real path it names,
// except "/" alone, which is the root's top.
func (r *Root) Join(cwd, p string) (string, error) {
	if path.IsAbs(p) {
		c := path.Clean(p)
		if c == "/" || c == r.real {
			return ".", nil
		}
		if within(r.real, c) {
			return relTo(r.real, c), nil
		}
		return "", &OutsideError{Path: p, Target: c, Of: r.of, Root: r.real}
	}
	c := path.Join(cwd, p)
	if c == ".." || strings.HasPrefix(c, "../") {
		return "", &OutsideError{Path: p, Target: path.Join(r.real, c), Of: r.of, Root: r.real}
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
	return nil, &OutsideError{Target: dest, Symlink: true, Root: root}
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
