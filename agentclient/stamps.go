package agentclient

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/concdeploy/conc/internal/durable"
	"github.com/concdeploy/conc/sshconn"
)

// A stamp is what the node's boot reported of a cached agent when its
// sha256 last passed: "INODE SIZE CTIME". While the file still shows that
// stamp, the boot runs it without hashing it again. The stamps live here,
// on the workstation, one file per node address and user, so that nothing
// on the node can vouch for a file it could have changed.

// stampFile is where the stamps of the agents cached for t are kept.
func stampFile(t sshconn.Target) (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	// Two nodes behind different jump hosts may share a private address:
	// the hops are part of where the agent is.
	key := t.User + "@" + t.Addr
	for _, h := range t.Jumps {
		key += " via " + h.User + "@" + h.Addr
	}
	sum := sha256.Sum256([]byte(key))
	return filepath.Join(dir, "conc", "stamps", hex.EncodeToString(sum[:12])), nil
}

// loadStamps reads the stamps kept for t, by agent hash; none when there
// are none, or they cannot be read (the boot then hashes the agent).
func loadStamps(t sshconn.Target) map[string]string {
	stamps := map[string]string{}
	p, err := stampFile(t)
	if err != nil {
		return stamps
	}
	f, err := os.Open(p)
	if err != nil {
		return stamps
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if h, stamp, ok := strings.Cut(sc.Text(), " "); ok && isHash(h) {
			stamps[h] = stamp
		}
	}
	return stamps
}

// saveStamp records the stamp the boot reported for the agent hash.
func saveStamp(t sshconn.Target, hash, stamp string) error {
	if !isHash(hash) || strings.ContainsAny(stamp, "\n\r") {
		return fmt.Errorf("the node reported a stamp that is not one: %q %q", hash, stamp)
	}
	p, err := stampFile(t)
	if err != nil {
		return err
	}
	stamps := loadStamps(t)
	stamps[hash] = stamp
	var b strings.Builder
	hashes := make([]string, 0, len(stamps))
	for h := range stamps {
		hashes = append(hashes, h)
	}
	sort.Strings(hashes)
	for _, h := range hashes {
		fmt.Fprintf(&b, "%s %s\n", h, stamps[h])
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	return durable.WriteFile(p, []byte(b.String()), 0o600)
}

func isHash(h string) bool {
	if len(h) != 64 {
		return false
	}
	_, err := hex.DecodeString(h)
	return err == nil
}
