package controller

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"

	"github.com/concdeploy/conc/bundle"
	"github.com/pkg/sftp"
)

// readNodeLock reads the lock record and journal in a node's bundle over
// SFTP. It returns nil, nil when the node is free. A bundle without a lock
// record (made by hand, or a deploy that died in its first instant) is
// locked by an unknown holder.
func readNodeLock(c *sftp.Client, dir string) (*bundle.Lock, error) {
	if _, err := c.Stat(dir); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("look for the bundle %s: %w", dir, err)
	}
	b, err := readAll(c, path.Join(dir, bundle.LockFile))
	if errors.Is(err, fs.ErrNotExist) {
		return &bundle.Lock{Holder: "unknown (the bundle has no lock record)"}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the lock record: %w", err)
	}
	l, err := bundle.ParseLock(b)
	if err != nil {
		return nil, err
	}
	j, err := c.Open(path.Join(dir, bundle.JournalFile))
	if errors.Is(err, fs.ErrNotExist) {
		return l, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the journal: %w", err)
	}
	defer j.Close()
	entries, err := bundle.ReadJournal(j)
	if err != nil {
		return nil, fmt.Errorf("read the journal: %w", err)
	}
	l.Journal = bundle.Fold(entries)
	return l, nil
}

func readAll(c *sftp.Client, p string) ([]byte, error) {
	f, err := c.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, 1<<20))
}
