// Package bundle names the files conc keeps on a node: the bundle directory,
// whose existence is the node's lock, the lock record inside it, and the
// agent cache. Both the controller and the agent use these names, so they
// live here and nowhere else.
package bundle

import (
	"fmt"
	"path"
	"strings"
	"time"
)

// File names inside the bundle. They start with ".conc-" so that they do not
// collide with the product files an operator copies into the bundle.
const (
	// LockFile is the lock record, JSON, rewritten atomically.
	LockFile = ".conc-lock.json"
	// AgentLink is the link to the cached agent binary that serves this bundle.
	AgentLink = ".conc-agent"
	// LiveFile is the file the agent serving the bundle holds a kernel
	// lock on (an open file description lock) for as long as it serves it.
	// The kernel drops the lock when the agent dies, so "alive" is read from
	// the lock, never from a clock. It is never renamed or rewritten.
	LiveFile = ".conc-live"
	// RunningFile names the job the serving agent is running, written once
	// the job has run a second (quick jobs cost nothing) and removed when
	// it ends, for conc status. It is advice: the journal is the record.
	RunningFile = ".conc-running"
)

// Running is RunningFile's content: the job that is running, and since
// when.
type Running struct {
	Step  int       `json:"step"`
	Op    string    `json:"op"`
	Since time.Time `json:"since"`
}

// CacheDir is the agent cache, relative to the admin's home on the node.
const CacheDir = ".cache/conc"

// AgentPrefix starts the file name of a cached agent; the agent's sha256 in
// lower-case hex follows it.
const AgentPrefix = "conc-agent-"

// Mode is the permission of the bundle and the cache directory.
const Mode = 0o700

// CheckName reports whether dir is acceptable as a bundle path relative to
// the home directory. The bundle is removed recursively at the end of a
// deploy, so anything that could point outside the home, or at the home
// itself, is refused.
func CheckName(dir string) error {
	switch {
	case dir == "":
		return fmt.Errorf("bundle is empty")
	case strings.HasPrefix(dir, "/"), strings.HasPrefix(dir, "~"):
		return fmt.Errorf("bundle %q must be relative to the admin's home", dir)
	case strings.ContainsAny(dir, "\x00\n\\"):
		return fmt.Errorf("bundle %q holds a character that is not allowed", dir)
	}
	clean := path.Clean(dir)
	if clean == "." || clean == ".." || strings.HasPrefix(clean, "../") {
		return fmt.Errorf("bundle %q must name a directory below the admin's home", dir)
	}
	if clean == CacheDir || strings.HasPrefix(CacheDir, clean+"/") || strings.HasPrefix(clean, CacheDir+"/") {
		return fmt.Errorf("bundle %q would hold conc's agent cache", dir)
	}
	return nil
}
