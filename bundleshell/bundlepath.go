package bundleshell

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/pkg/sftp"
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

// resolve returns the real path on the node of p, as typed in the shell,
// refusing any path that leaves the bundle. Every symlink on the way is
// followed, and the last one too with follow; a part that does not exist
// yet is kept as it is, so only its existing parent counts.
func (s *Shell) resolve(p string, follow bool) (string, error) {
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
