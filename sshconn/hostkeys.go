package sshconn

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
	"golang.org/x/sys/unix"

	"github.com/concdeploy/conc/jobs"
)

// Host key errors. Both carry the fingerprint the node presented.
var (
	// ErrUnknownHostKey: the node is not in known_hosts.
	ErrUnknownHostKey = errors.New("unknown host key")
	// ErrChangedHostKey: the node presented a key other than the one
	// recorded. conc never accepts this; the operator must find out why.
	ErrChangedHostKey = errors.New("host key changed")
)

// HostKeyError says which node presented which key, and what to do.
type HostKeyError struct {
	Node, Addr  string
	Fingerprint string
	KnownHosts  string
	Err         error // ErrUnknownHostKey or ErrChangedHostKey
}

func (e *HostKeyError) Error() string {
	if errors.Is(e.Err, ErrChangedHostKey) {
		return fmt.Sprintf("%s (%s): %v: it now presents %s, which does not match %s. This may be an attack; conc will not connect. If %s was rebuilt, remove its old line from %s (ssh-keygen -R) and accept the new key after checking it",
			e.Node, e.Addr, e.Err, e.Fingerprint, e.KnownHosts, e.Node, e.KnownHosts)
	}
	return fmt.Sprintf("%s (%s): %v %s is not in %s; check the fingerprint, then run again with --accept-new-host-keys to record it",
		e.Node, e.Addr, e.Err, e.Fingerprint, e.KnownHosts)
}

func (e *HostKeyError) Unwrap() error { return e.Err }

// Name is the host's name as known_hosts and ssh-keygen -R write it:
// "[host]:port" unless the port is 22.
func (e *HostKeyError) Name() string { return knownhosts.Normalize(e.Addr) }

// hostKeys checks node keys against one known_hosts file and, when allowed,
// records keys of hosts it has never seen, like OpenSSH's accept-new.
type hostKeys struct {
	path      string
	acceptNew bool
	node      string

	mu       sync.Mutex
	check    ssh.HostKeyCallback
	recorded func(ssh.PublicKey) // told of a key it recorded
}

func newHostKeys(path, node string, acceptNew bool) (*hostKeys, error) {
	k := &hostKeys{path: path, node: node, acceptNew: acceptNew}
	cb, err := knownhosts.New(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		cb = func(string, net.Addr, ssh.PublicKey) error { return &knownhosts.KeyError{} }
	case err != nil:
		return nil, fmt.Errorf("read known_hosts %s: %w", path, err)
	}
	k.check = cb
	return k, nil
}

// algorithms returns the host key algorithms of the keys known for addr,
// so that the node is asked for a key type that can match; without this a
// node known by its RSA key that offers ed25519 first would look changed.
func (k *hostKeys) algorithms(addr string) []string {
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		return nil
	}
	probe, err := ssh.NewPublicKey(pub)
	if err != nil {
		return nil
	}
	var ke *knownhosts.KeyError
	if !errors.As(k.check(addr, tcpAddr(addr), probe), &ke) {
		return nil
	}
	var algos []string
	seen := map[string]bool{}
	for _, w := range ke.Want {
		for _, a := range algorithmsFor(w.Key.Type()) {
			if !seen[a] {
				seen[a] = true
				algos = append(algos, a)
			}
		}
	}
	return algos
}

func algorithmsFor(keyType string) []string {
	if keyType == ssh.KeyAlgoRSA {
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
	}
	return []string{keyType}
}

// callback is the ssh.HostKeyCallback.
func (k *hostKeys) callback(hostname string, remote net.Addr, key ssh.PublicKey) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	err := k.check(hostname, remote, key)
	if err == nil {
		return nil
	}
	fp := ssh.FingerprintSHA256(key)
	var ke *knownhosts.KeyError
	if !errors.As(err, &ke) {
		return fmt.Errorf("check host key of %s: %w", k.node, err)
	}
	if len(ke.Want) > 0 {
		return &HostKeyError{Node: k.node, Addr: hostname, Fingerprint: fp, KnownHosts: k.path, Err: ErrChangedHostKey}
	}
	if !k.acceptNew {
		return &HostKeyError{Node: k.node, Addr: hostname, Fingerprint: fp, KnownHosts: k.path, Err: ErrUnknownHostKey}
	}
	recorded, err := appendKnownHost(k.path, hostname, key)
	switch {
	case errors.Is(err, ErrChangedHostKey):
		return &HostKeyError{Node: k.node, Addr: hostname, Fingerprint: fp, KnownHosts: k.path, Err: ErrChangedHostKey}
	case err != nil:
		return err
	case recorded && k.recorded != nil:
		k.recorded(key)
	}
	return nil
}

// recordMu serialises this process's appends to known_hosts files; the
// file's own lock serialises them with other processes'.
var recordMu sync.Mutex

// appendKnownHost records key for hostname in path, like OpenSSH's
// accept-new, once: under a lock it reads the file again, so that of
// several dials at once (a fleet's first contact with its bastion) one
// records the key, the others find it, and a different key that another
// dial recorded meanwhile is ErrChangedHostKey, never a second trusted
// key. recorded says whether this call added the line.
func appendKnownHost(path, hostname string, key ssh.PublicKey) (recorded bool, err error) {
	recordMu.Lock()
	defer recordMu.Unlock()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return false, fmt.Errorf("record host key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return false, fmt.Errorf("record host key: %w", err)
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		return false, fmt.Errorf("lock %s: %w", path, err)
	}
	if check, err := knownhosts.New(path); err == nil {
		var ke *knownhosts.KeyError
		switch err := check(hostname, tcpAddr(hostname), key); {
		case err == nil:
			return false, nil // recorded meanwhile: trusted, not twice
		case errors.As(err, &ke) && len(ke.Want) > 0:
			return false, ErrChangedHostKey
		}
	}
	line := knownhosts.Line([]string{knownhosts.Normalize(hostname)}, key) + "\n"
	if _, err := f.WriteString(line); err != nil {
		return false, fmt.Errorf("record host key in %s: %w", path, err)
	}
	// A key recorded is trusted from now on: it must not be lost.
	if err := f.Sync(); err != nil {
		return false, fmt.Errorf("record host key in %s: %w", path, err)
	}
	return true, f.Close()
}

// tcpAddr turns "host:port" into a net.Addr for the knownhosts callback,
// which only reads its String.
type tcpAddr string

func (a tcpAddr) Network() string { return "tcp" }
func (a tcpAddr) String() string  { return string(a) }

// Hint says what to do about a host key conc refused: check it and record
// it, or find out why it changed. It is not a lock: nothing was done on
// the node, and conc did not log in. invocation is how conc was called
// (its global flags), verb the command to run again on the node name (hk
// may be a jump host's).
func (hk *HostKeyError) Hint(invocation, verb, name string) string {
	cmd := func(verb string) string { return strings.TrimSpace(invocation + " " + verb) }
	var b strings.Builder
	if errors.Is(hk, ErrChangedHostKey) {
		fmt.Fprintf(&b, "  conc did not log in: %s (%s) presents %s, not the key %s holds for it. This may be an attack.\n", hk.Node, hk.Addr, hk.Fingerprint, hk.KnownHosts)
		fmt.Fprintf(&b, "  if %s was rebuilt: ssh-keygen -R %s -f %s\n", hk.Node, jobs.Quote(hk.Name()), jobs.Quote(hk.KnownHosts))
	} else {
		fmt.Fprintf(&b, "  conc did not log in: the host key of %s (%s) is not in %s yet.\n", hk.Node, hk.Addr, hk.KnownHosts)
		fmt.Fprintf(&b, "  check:    that %s is %s's key (on it: ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub)\n", hk.Fingerprint, hk.Node)
	}
	fmt.Fprintf(&b, "  record:   %s   (or run again with --accept-new-host-keys)\n", cmd("hostkeys "+name))
	fmt.Fprintf(&b, "  then:     %s\n", cmd(verb+" "+name))
	return b.String()
}
