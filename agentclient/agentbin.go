package agentclient

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"sync"
)

//go:embed agents
var embedded embed.FS

// AgentBinary is one agent build. Its bytes are read only when a node
// needs them uploaded: most runs find the agent cached and need its hash
// alone.
type AgentBinary struct {
	Arch string // GOARCH
	Hash string // sha256, hex
	load func() ([]byte, error)
}

// Bytes reads the agent binary.
func (b AgentBinary) Bytes() ([]byte, error) { return b.load() }

// Agents holds the agent builds conc can push, by GOARCH.
type Agents map[string]AgentBinary

var (
	embeddedOnce   sync.Once
	embeddedAgents Agents
	embeddedErr    error
)

// EmbeddedAgents returns the agents built into this conc by make build.
func EmbeddedAgents() (Agents, error) {
	embeddedOnce.Do(func() {
		embeddedAgents, embeddedErr = loadAgents(embedded, "agents")
	})
	return embeddedAgents, embeddedErr
}

// AgentsFromDir loads agent builds from a directory laid out like the
// embedded one; tests use it with agents they have just built.
func AgentsFromDir(dir string) (Agents, error) {
	return loadAgents(os.DirFS(dir), ".")
}

// loadAgents reads conc-agent-linux-ARCH files and their .sha256 files.
// A missing .sha256 is computed.
func loadAgents(fsys fs.FS, dir string) (Agents, error) {
	const prefix = "conc-agent-linux-"
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("read agents: %w", err)
	}
	out := Agents{}
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, prefix) || strings.HasSuffix(name, ".sha256") {
			continue
		}
		file := path.Join(dir, name)
		load := func() ([]byte, error) {
			data, err := fs.ReadFile(fsys, file)
			if err != nil {
				return nil, fmt.Errorf("read agent %s: %w", name, err)
			}
			return data, nil
		}
		hash := ""
		if b, err := fs.ReadFile(fsys, file+".sha256"); err == nil {
			hash = strings.Fields(string(b) + " ")[0]
		}
		if len(hash) != 64 {
			// No hash next to it (a development build): compute it.
			data, err := load()
			if err != nil {
				return nil, err
			}
			sum := sha256.Sum256(data)
			hash = hex.EncodeToString(sum[:])
		}
		arch := strings.TrimPrefix(name, prefix)
		out[arch] = AgentBinary{Arch: arch, Hash: hash, load: load}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("this conc was built without agents; build it with make build")
	}
	return out, nil
}

// Archs lists the architectures, sorted.
func (a Agents) Archs() []string {
	var s []string
	for k := range a {
		s = append(s, k)
	}
	sort.Strings(s)
	return s
}

// ForMachine picks the agent for a node's `uname -m`.
func (a Agents) ForMachine(machine string) (AgentBinary, error) {
	arch := map[string]string{"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}[machine]
	b, ok := a[arch]
	if !ok {
		return AgentBinary{}, fmt.Errorf("no agent for a %q node; this conc carries agents for linux/%s", machine, strings.Join(a.Archs(), ", linux/"))
	}
	return b, nil
}
