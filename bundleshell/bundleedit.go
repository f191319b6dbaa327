package bundleshell

import (
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

	"github.com/concdeploy/conc/jobs"
	"github.com/pkg/sftp"
)

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

// edit downloads p to a private local file, runs the editor on it and, if
// the content changed, writes it back atomically with the remote file's
// mode (0600 for a new file). The local copy is removed afterwards, except
// when the file changed on the node during the edit: then it is kept, and
// nothing is written.
func (s *Shell) edit(ctx context.Context, p string) error {
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
		return errors.New("not a regular file")
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
		return fmt.Errorf("%w; not written", err)
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
		return fmt.Errorf("it changed on the node while you edited it; nothing written, your version is in %s", tmp.Name())
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
func (s *Shell) fetchForEdit(ctx context.Context, real string, fi fs.FileInfo, tmp *os.File) ([sha256.Size]byte, error) {
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
