package nodeops

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/concdeploy/conc/internal/bytesize"
	"github.com/concdeploy/conc/jobs"
)

type untar struct{}

func (untar) Info() jobs.Info {
	return jobs.Info{
		Name: "untar", Usage: "GLOB [--into DIR] [--all] [--max-size SIZE]",
		Doc:   "unpack the .tar.gz, .tgz or .tar in the bundle matching GLOB (every match with --all) into the bundle or DIR inside it, refusing members that leave it and archives larger than the free space or --max-size",
		Hosts: []jobs.Host{jobs.Remote},
	}
}

func (untar) Prepare(_ jobs.Host, args []string) (jobs.Action, error) {
	fs := jobs.NewFlags("untar", true)
	into := fs.String("into", ".", "directory inside the bundle to unpack into")
	all := fs.Bool("all", false, "unpack every archive the glob matches")
	maxSize := fs.String("max-size", "", "refuse archives that hold more than SIZE bytes (K, M, G suffixes)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	var limit int64 // none
	if *maxSize != "" {
		n, err := bytesize.Parse(*maxSize)
		if err != nil || n == 0 {
			return nil, fmt.Errorf("--max-size: %q is not a size such as 500M or 2G", *maxSize)
		}
		limit = n
	}
	if fs.NArg() != 1 {
		return nil, fmt.Errorf("needs exactly one GLOB")
	}
	glob, err := bundleGlob(fs.Arg(0))
	if err != nil {
		return nil, err
	}
	dir, err := jobs.InsideBundle(*into)
	if err != nil {
		return nil, fmt.Errorf("--into: %w", err)
	}
	return untarAction{glob: glob, into: dir, all: *all, maxSize: limit}, nil
}

// bundleGlob checks a glob that must match inside the bundle.
func bundleGlob(g string) (string, error) {
	if err := jobs.CheckGlobs([]string{g}); err != nil {
		return "", err
	}
	return jobs.InsideBundle(g)
}

type untarAction struct {
	glob    string
	into    string
	all     bool
	maxSize int64 // 0: only the free space limits
}

func (a untarAction) Run(ctx context.Context, env jobs.Env) jobs.Result {
	archives, res := a.archives(env.Dir())
	if res != nil {
		return *res
	}
	// Every member of every archive is checked before anything is written,
	// and so is the size they add up to: a gzip bomb is refused while it
	// is only being read.
	chk := newUntarCheck(filepath.Join(env.Dir(), a.into), a.into == ".")
	chk.limit, chk.why = sizeLimit(env.Dir(), a.maxSize)
	for _, ar := range archives {
		if err := walkArchive(ctx, ar, chk.member); err != nil {
			return jobs.Resultf(jobs.Failed, "%s: %v; nothing was extracted", relTo(env.Dir(), ar), err)
		}
	}
	root, err := openInto(env.Dir(), a.into)
	if err != nil {
		return jobs.Resultf(jobs.Failed, "%v", err)
	}
	defer root.Close()
	x := &extractor{root: root}
	for _, ar := range archives {
		if err := walkArchive(ctx, ar, x.member); err != nil {
			x.undo()
			if errors.Is(err, syscall.ENOSPC) {
				return jobs.Resultf(jobs.Failed, "no space left on %s: %v; what was extracted is removed", env.Node(), err)
			}
			return jobs.Resultf(jobs.Failed, "%s: %v (the archives were checked; what was extracted is removed)", relTo(env.Dir(), ar), err)
		}
	}
	if err := x.finishDirs(); err != nil {
		return jobs.Resultf(jobs.Failed, "%v", err)
	}
	return jobs.Resultf(jobs.OK, "%d archive(s), %d member(s) into %s", len(archives), x.n, a.into)
}

// openInto creates into inside dir and opens it as a root, refusing one
// that a symlink takes out of dir.
func openInto(dir, into string) (*os.Root, error) {
	bundle, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer bundle.Close()
	if err := bundle.MkdirAll(into, 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", into, err)
	}
	root, err := bundle.OpenRoot(into)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", into, err)
	}
	return root, nil
}

// archives returns the files the glob matches, directories left out.
func (a untarAction) archives(dir string) ([]string, *jobs.Result) {
	m, err := filesMatching(dir, a.glob, false)
	if err != nil {
		r := jobs.Resultf(jobs.Failed, "%v", err)
		return nil, &r
	}
	if len(m) == 0 {
		r := jobs.Resultf(jobs.Failed, "%q matches no archive in %s", a.glob, dir)
		return nil, &r
	}
	if len(m) > 1 && !a.all {
		r := jobs.Resultf(jobs.Failed, "%q matches %d archives in %s: %s; narrow the glob or pass --all", a.glob, len(m), dir, relList(dir, m))
		return nil, &r
	}
	for _, f := range m {
		if archiveKind(f) == "" {
			r := jobs.Resultf(jobs.Failed, "%s is not a .tar.gz, .tgz or .tar", relTo(dir, f))
			return nil, &r
		}
	}
	return m, nil
}

// filesMatching expands a glob relative to dir and keeps the directories
// (dirs true) or everything else (dirs false).
func filesMatching(dir, glob string, dirs bool) ([]string, error) {
	m, err := filepath.Glob(filepath.Join(dir, glob))
	if err != nil {
		return nil, fmt.Errorf("bad glob %q: %w", glob, err)
	}
	return slices.DeleteFunc(m, func(p string) bool {
		fi, err := os.Stat(p)
		return err != nil || fi.IsDir() != dirs
	}), nil
}

func relTo(dir, p string) string {
	if r, err := filepath.Rel(dir, p); err == nil {
		return r
	}
	return p
}

func relList(dir string, ps []string) string {
	rs := make([]string, len(ps))
	for i, p := range ps {
		rs[i] = relTo(dir, p)
	}
	return strings.Join(rs, ", ")
}

func archiveKind(name string) string {
	switch {
	case strings.HasSuffix(name, ".tar.gz"), strings.HasSuffix(name, ".tgz"):
		return "tgz"
	case strings.HasSuffix(name, ".tar"):
		return "tar"
	}
	return ""
}

// walkArchive calls fn for each member of the archive at name, with the
// member's name cleaned, until ctx ends.
func walkArchive(ctx context.Context, name string, fn func(h *tar.Header, clean string, r io.Reader) error) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	var r io.Reader = f
	if archiveKind(name) == "tgz" {
		zr, err := gzip.NewReader(f)
		if err != nil {
			return fmt.Errorf("read gzip: %w", err)
		}
		defer zr.Close()
		r = zr
	}
	tr := tar.NewReader(r)
	for ctx.Err() == nil {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read tar: %w", err)
		}
		if h.Typeflag == tar.TypeXGlobalHeader {
			continue // git archive's pax_global_header: not a file
		}
		if err := fn(h, path.Clean(h.Name), tr); err != nil {
			return err
		}
	}
	return context.Cause(ctx)
}

// maxLinkHops bounds how many symlinks a path may go through, as the
// kernel's ELOOP does.
const maxLinkHops = 40

// Bounds on what a tar header may ask of the check, whose work grows with
// names and members: a name or link target as long as PATH_MAX, and a
// million members. Each member also counts memberCost bytes towards the
// size limit, for the block and inode it takes, so that a flood of empty
// files and directories fills no disk either.
const (
	maxName    = 4096
	maxMembers = 1 << 20
	memberCost = 512
)

// untarCheck validates members against the target directory as it will be
// once the members before them are unpacked: links the archives create and
// links already on disk are both followed.
type untarCheck struct {
	target  string
	bundle  bool              // the target is the bundle, whose .conc-* files are conc's
	made    map[string]byte   // member paths so far: their type
	links   map[string]string // symlink members so far: their targets
	limit   int64             // the bytes the archives may hold; 0: no limit
	why     string            // where the limit comes from, for the refusal
	size    int64             // the bytes of the members so far
	members int
}

func newUntarCheck(target string, bundle bool) *untarCheck {
	return &untarCheck{target: target, bundle: bundle, made: map[string]byte{}, links: map[string]string{}}
}

func (c *untarCheck) member(h *tar.Header, clean string, _ io.Reader) error {
	if err := checkName(h.Name, clean, h.Typeflag); err != nil {
		return err
	}
	if len(h.Linkname) > maxName {
		return fmt.Errorf("member %q links to a name of %d bytes, more than %d", h.Name, len(h.Linkname), maxName)
	}
	if c.members++; c.members > maxMembers {
		return fmt.Errorf("the archives hold more than %d members", maxMembers)
	}
	if c.size += memberCost; c.limit > 0 && c.size > c.limit {
		return fmt.Errorf("the archives hold more than %s (%s)", sizeString(c.limit), c.why)
	}
	if c.bundle && strings.HasPrefix(clean, ".conc-") {
		return fmt.Errorf("member %q would replace conc's own files in the bundle; unpack with --into DIR", h.Name)
	}
	if err := c.checkParents(h.Name, clean); err != nil {
		return err
	}
	if !c.inside(path.Dir(clean)) {
		return fmt.Errorf("member %q leaves the target directory through a symlink", h.Name)
	}
	switch h.Typeflag {
	case tar.TypeReg:
		// The header's size is what the tar reader will hand out, no more.
		if c.size += h.Size; c.limit > 0 && (h.Size < 0 || c.size > c.limit) {
			return fmt.Errorf("the archives hold more than %s (%s)", sizeString(c.limit), c.why)
		}
	case tar.TypeDir:
	case tar.TypeSymlink:
		if h.Linkname == "" || path.IsAbs(h.Linkname) || !c.inside(path.Dir(clean)+"/"+h.Linkname) {
			return fmt.Errorf("member %q is a symlink to %q, outside the target directory", h.Name, h.Linkname)
		}
		c.links[clean] = h.Linkname
	case tar.TypeLink:
		if err := c.checkHardLink(h); err != nil {
			return err
		}
	default:
		return fmt.Errorf("member %q is %s; untar unpacks only files, directories and links", h.Name, typeName(h.Typeflag))
	}
	if h.Typeflag != tar.TypeSymlink {
		delete(c.links, clean)
	}
	c.made[clean] = h.Typeflag
	return nil
}

// checkName refuses absolute names and names with a ".." component.
func checkName(name, clean string, typ byte) error {
	switch {
	case name == "":
		return errors.New("a member has no name")
	case len(name) > maxName:
		return fmt.Errorf("member %.64q... has a name of %d bytes, more than %d", name, len(name), maxName)
	case path.IsAbs(name):
		return fmt.Errorf("member %q is an absolute path", name)
	case slices.Contains(strings.Split(name, "/"), ".."):
		return fmt.Errorf("member %q leaves the target directory", name)
	case clean == "." && typ != tar.TypeDir:
		return fmt.Errorf("member %q would replace the target directory", name)
	}
	return nil
}

// checkParents refuses a member under a path that an earlier member made
// a file.
func (c *untarCheck) checkParents(name, clean string) error {
	for p := path.Dir(clean); p != "."; p = path.Dir(p) {
		if typ, ok := c.made[p]; ok && typ != tar.TypeDir && typ != tar.TypeSymlink {
			return fmt.Errorf("member %q is under %q, which is not a directory", name, p)
		}
	}
	return nil
}

func (c *untarCheck) checkHardLink(h *tar.Header) error {
	l := h.Linkname
	if l == "" || path.IsAbs(l) || slices.Contains(strings.Split(l, "/"), "..") || !c.inside(path.Dir(path.Clean(l))) {
		return fmt.Errorf("member %q is a hard link to %q, outside the target directory", h.Name, l)
	}
	if _, isLink := c.link(path.Clean(l)); isLink {
		return fmt.Errorf("member %q is a hard link to the symlink %q", h.Name, l)
	}
	return nil
}

// inside reports whether p, relative to the target, stays inside it when
// every symlink on the way is followed.
func (c *untarCheck) inside(p string) bool {
	parts := strings.Split(p, "/")
	resolved := "."
	for hops := 0; len(parts) > 0; {
		part := parts[0]
		parts = parts[1:]
		switch part {
		case "", ".":
			continue
		case "..":
			if resolved == "." {
				return false
			}
			resolved = path.Dir(resolved)
			continue
		}
		next := path.Join(resolved, part)
		target, isLink := c.link(next)
		if !isLink {
			resolved = next
			continue
		}
		if hops++; hops > maxLinkHops || path.IsAbs(target) {
			return false
		}
		// Resolve the link's target from its directory, then the rest.
		parts = append(strings.Split(target, "/"), parts...)
	}
	return true
}

// link reports whether p, a path without symlinks before its last
// component, is a symlink once the members so far are unpacked.
func (c *untarCheck) link(p string) (string, bool) {
	if typ, ok := c.made[p]; ok {
		t, isLink := c.links[p]
		return t, typ == tar.TypeSymlink && isLink
	}
	full := filepath.Join(c.target, filepath.FromSlash(p))
	fi, err := os.Lstat(full)
	if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		return "", false
	}
	t, err := os.Readlink(full)
	if err != nil {
		return "/", true // unreadable: count it as outside
	}
	return t, true
}

func typeName(t byte) string {
	switch t {
	case tar.TypeChar:
		return "a character device"
	case tar.TypeBlock:
		return "a block device"
	case tar.TypeFifo:
		return "a fifo"
	}
	return fmt.Sprintf("of type %q", t)
}

// extractor writes checked members under root, which refuses any path that
// leaves it even if the disk changed since the check.
type extractor struct {
	root *os.Root
	n    int
	dirs []dirMode // applied last, so a read-only directory can be filled
	made []string  // what it created, outermost first, for undo
}

// undo removes what the extraction created, so that one that fails (a
// full disk, a member that cannot be written) leaves nothing half done.
// What a member replaced is gone: the check refuses nothing for that.
func (x *extractor) undo() {
	for _, name := range slices.Backward(x.made) {
		x.root.RemoveAll(name)
	}
}

// mkdirAll makes dir and its missing parents, noting the outermost one it
// made, for undo.
func (x *extractor) mkdirAll(dir string) error {
	top := ""
	for p := dir; p != "." && p != string(filepath.Separator); p = filepath.Dir(p) {
		if _, err := x.root.Lstat(p); err == nil {
			break
		}
		top = p
	}
	if err := x.root.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if top != "" {
		x.made = append(x.made, top)
	}
	return nil
}

type dirMode struct {
	name string
	h    *tar.Header
}

func (x *extractor) member(h *tar.Header, clean string, r io.Reader) error {
	name := filepath.FromSlash(clean)
	if dir := filepath.Dir(name); dir != "." {
		if err := x.mkdirAll(dir); err != nil {
			return fmt.Errorf("member %q: %w", h.Name, err)
		}
	}
	var err error
	switch h.Typeflag {
	case tar.TypeDir:
		err = x.dir(name, h)
	case tar.TypeReg:
		err = x.file(name, h, r)
	case tar.TypeSymlink:
		if err = x.clear(name); err == nil {
			err = x.root.Symlink(h.Linkname, name)
		}
	case tar.TypeLink:
		if err = x.clear(name); err == nil {
			err = x.root.Link(filepath.FromSlash(path.Clean(h.Linkname)), name)
		}
	}
	if err == nil && (h.Typeflag == tar.TypeSymlink || h.Typeflag == tar.TypeLink) {
		// Only what was made is undone: a failed member may stand where
		// something of the operator's still is.
		x.made = append(x.made, name)
	}
	if err != nil {
		return fmt.Errorf("member %q: %w", h.Name, err)
	}
	x.n++
	return nil
}

// clear removes what is at name, so that a new member never writes
// through an existing file, link or symlink.
func (x *extractor) clear(name string) error {
	err := x.root.Remove(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

func (x *extractor) dir(name string, h *tar.Header) error {
	if fi, err := x.root.Lstat(name); err == nil && !fi.IsDir() {
		if err := x.root.Remove(name); err != nil {
			return err
		}
	}
	if err := x.mkdirAll(name); err != nil {
		return err
	}
	if name != "." {
		x.dirs = append(x.dirs, dirMode{name: name, h: h})
	}
	return nil
}

func (x *extractor) file(name string, h *tar.Header, r io.Reader) error {
	if err := x.clear(name); err != nil {
		return err
	}
	f, err := x.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	x.made = append(x.made, name)
	_, err = io.Copy(f, r)
	if err == nil {
		err = f.Chmod(fs.FileMode(h.Mode) & fs.ModePerm)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = x.root.Chtimes(name, h.ModTime, h.ModTime)
	}
	return err
}

// finishDirs gives the directories the archives' modes and times, deepest
// first.
func (x *extractor) finishDirs() error {
	for _, d := range slices.Backward(x.dirs) {
		if err := x.root.Chmod(d.name, fs.FileMode(d.h.Mode)&fs.ModePerm); err != nil {
			return fmt.Errorf("member %q: %w", d.h.Name, err)
		}
		if err := x.root.Chtimes(d.name, d.h.ModTime, d.h.ModTime); err != nil {
			return fmt.Errorf("member %q: %w", d.h.Name, err)
		}
	}
	return nil
}
