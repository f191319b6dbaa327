package localops

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/aymanbagabas/go-udiff"

	"github.com/concdeploy/conc/jobs"
)

// maxPreview bounds what a preview reads of a file it compares; a larger
// one is said to change, without a diff.
const maxPreview = 4 << 20

var (
	_ jobs.Previewer = templateAction{}
	_ jobs.Previewer = copyAction{}
)

// Preview renders the template and compares it with DEST as it is now.
func (a templateAction) Preview(ctx context.Context, env jobs.PreviewEnv) jobs.Preview {
	src := a.src
	if !filepath.IsAbs(src) {
		src = filepath.Join(env.Dir(), src)
	}
	text, err := os.ReadFile(src)
	if err != nil {
		return jobs.Preview{Err: fmt.Errorf("read the template: %w", err)}
	}
	out, err := render(a.src, string(text), env.Params())
	if err != nil {
		return jobs.Preview{Err: err}
	}
	var old []byte
	var mode fs.FileMode
	where := a.dest + " on " + env.Node()
	if env.Host() == jobs.Remote {
		old, mode, err = env.ReadRemote(ctx, a.dest, maxPreview)
	} else {
		dest := a.dest
		if home, herr := os.UserHomeDir(); herr == nil && !filepath.IsAbs(dest) {
			dest = filepath.Join(home, dest)
		}
		old, mode, err = readLocal(dest, maxPreview)
		where = dest
	}
	p := jobs.Preview{Change: jobs.Changed}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		p.What = fmt.Sprintf("would create %s (%d bytes, mode %04o)", where, len(out), a.mode)
		return p
	case errors.Is(err, jobs.ErrNotRegular):
		p.What = fmt.Sprintf("would replace %s, which is not a regular file (%v), with a file of %d bytes", where, err, len(out))
		return p
	case errors.Is(err, jobs.ErrTooLarge):
		p.What = fmt.Sprintf("would replace %s, which is larger than %d bytes, with %d bytes", where, maxPreview, len(out))
		return p
	case err != nil:
		return jobs.Preview{Err: fmt.Errorf("read %s: %w", where, err)}
	case bytes.Equal(old, out) && mode.Perm() == a.mode.Perm():
		return jobs.Preview{Change: jobs.Unchanged, What: fmt.Sprintf("%s already holds it (%d bytes, mode %04o)", where, len(out), a.mode)}
	}
	p.What = fmt.Sprintf("would change %s (%d bytes, mode %04o)", where, len(out), a.mode)
	if mode.Perm() != a.mode.Perm() {
		p.What += fmt.Sprintf("; its mode is %04o now", mode.Perm())
	}
	if !bytes.Equal(old, out) {
		p.Diff = textDiff(where, a.src+" (rendered)", old, out)
	}
	return p
}

// readLocal reads at most max bytes of the regular file p, a last link
// not followed, as writeAtomic would replace it.
func readLocal(p string, max int64) ([]byte, fs.FileMode, error) {
	fi, err := os.Lstat(p)
	switch {
	case err != nil:
		return nil, 0, err
	case !fi.Mode().IsRegular():
		return nil, 0, fmt.Errorf("%s is a %v: %w", p, fi.Mode().Type(), jobs.ErrNotRegular)
	case fi.Size() > max:
		return nil, 0, jobs.ErrTooLarge
	}
	b, err := os.ReadFile(p)
	return b, fi.Mode(), err
}

// textDiff is a unified diff of old and new when both are text, else a
// line that says they differ.
func textDiff(oldName, newName string, old, new []byte) string {
	if !isText(old) || !isText(new) {
		return fmt.Sprintf("binary contents differ (%d bytes now, %d after)\n", len(old), len(new))
	}
	return udiff.Unified(oldName, newName, string(old), string(new))
}

func isText(b []byte) bool { return utf8.Valid(b) && !bytes.ContainsRune(b, 0) }

// Preview lists what would be copied, with sizes: the bundle is new at
// each run, so every file would be, sent or, where the node's store
// holds it, placed from there.
func (a copyAction) Preview(ctx context.Context, env jobs.PreviewEnv) jobs.Preview {
	matches, res := jobs.ExpandGlobs(env.Dir(), a.globs)
	if res != nil {
		return jobs.Preview{Err: errors.New(res.Message)}
	}
	_, files, total, err := a.plan(matches)
	if err != nil {
		return jobs.Preview{Err: err}
	}
	send, stored, err := peekStore(ctx, env, files)
	if err != nil {
		return jobs.Preview{Err: err}
	}
	if stored > 0 {
		total = 0
		for _, f := range send {
			total += f.size
		}
	}
	names := make([]string, 0, 4)
	for i, f := range send {
		if i == 3 {
			names = append(names, fmt.Sprintf("and %d more", len(send)-i))
			break
		}
		names = append(names, fmt.Sprintf("%s (%d bytes)", f.dst, f.size))
	}
	what := fmt.Sprintf("would send %d file(s), %d bytes, into the bundle", len(send), total)
	if len(names) > 0 {
		what += ": " + strings.Join(names, ", ")
	}
	if stored > 0 {
		what += fmt.Sprintf("; %d from the node's store", stored)
	}
	return jobs.Preview{Bytes: total, Change: jobs.Changed, What: what}
}

// peekStore splits files into those a run would send and the number the
// node's store holds, where env can ask it; else all are to send.
func peekStore(ctx context.Context, env jobs.PreviewEnv, files []transfer) (send []transfer, stored int, err error) {
	sp, ok := env.(StorePeeker)
	if !ok || len(files) == 0 {
		return files, 0, nil
	}
	sums, err := storeFiles(ctx, files)
	if err != nil {
		return nil, 0, err
	}
	held, ok, err := sp.PeekStore(ctx, sums)
	switch {
	case err != nil:
		return nil, 0, fmt.Errorf("ask the node's store: %w", err)
	case !ok:
		return files, 0, nil
	case len(held) != len(files):
		return nil, 0, fmt.Errorf("the node's store answered for %d file(s), not %d", len(held), len(files))
	}
	for i, f := range files {
		if held[i] {
			stored++
		} else {
			send = append(send, f)
		}
	}
	return send, stored, nil
}
