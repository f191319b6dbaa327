package sshconn

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/concdeploy/conc/internal/testnode"
)

// Parallel dials with --accept-new-host-keys to the same unknown host (a
// bastion shared by a fleet) record its key once.
func TestParallelAcceptNewRecordsOnce(t *testing.T) {
	n := testnode.InProcess(t)
	os.WriteFile(n.KnownHosts, nil, 0o600) // the node is unknown
	tgt := Target{Name: n.Name, Addr: n.Addr(), User: n.User, Identity: n.Identity, KnownHosts: n.KnownHosts}
	var wg sync.WaitGroup
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := Dial(context.Background(), tgt, DialOptions{AcceptNewHostKeys: true})
			if err != nil {
				t.Error(err)
				return
			}
			c.Close()
		}()
	}
	wg.Wait()
	b, _ := os.ReadFile(n.KnownHosts)
	lines := strings.Count(string(b), "\n")
	if lines != 1 {
		t.Errorf("want 1 line, got %d", lines)
	}
}

// Two dials that each read known_hosts before either recorded: the second
// finds a different key recorded for the same host, a changed key.
func TestAcceptNewAfterAnotherKeyIsChanged(t *testing.T) {
	path := t.TempDir() + "/known_hosts"
	const addr = "127.0.0.1:2222"
	a, _ := newHostKeys(path, "bastion", true)
	b, _ := newHostKeys(path, "bastion", true)
	k1, k2 := edKey(t), edKey(t)
	if err := a.callback(addr, tcpAddr(addr), k1); err != nil {
		t.Fatal(err)
	}
	err := b.callback(addr, tcpAddr(addr), k2)
	data, _ := os.ReadFile(path)
	if !errors.Is(err, ErrChangedHostKey) || strings.Count(string(data), "\n") != 1 {
		t.Errorf("a second, different key for %s: %v\n%s", addr, err, data)
	}
}

// An attacker in the path of one of several parallel first-contact dials
// (here: a port that alternates between two hosts) must not get its key
// recorded next to the real one: the later dial finds a changed key.
func TestParallelAcceptNewTrustsOneKey(t *testing.T) {
	real, evil := testnode.InProcess(t), testnode.InProcess(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for i := 0; ; i++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			to := real.Addr()
			if i%2 == 1 {
				to = evil.Addr()
			}
			go func() {
				b, err := net.Dial("tcp", to)
				if err != nil {
					c.Close()
					return
				}
				go func() { io.Copy(b, c); b.Close() }()
				io.Copy(c, b)
				c.Close()
			}()
		}
	}()
	kh := t.TempDir() + "/known_hosts"
	tgt := Target{Name: "bastion", Addr: ln.Addr().String(), User: real.User, Identity: real.Identity, KnownHosts: kh}
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if c, err := Dial(context.Background(), tgt, DialOptions{AcceptNewHostKeys: true}); err == nil {
				c.Close()
			}
		}()
	}
	wg.Wait()
	b, _ := os.ReadFile(kh)
	keys := map[string]bool{}
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if f := strings.Fields(l); len(f) == 3 {
			keys[f[2]] = true
		}
	}
	if len(keys) > 1 {
		t.Errorf("%d different keys recorded for %s", len(keys), tgt.Addr)
	}
}

// conc hostkeys: two nodes behind one new jump host whose scans saw two
// different keys for it: a conflict, and neither is recorded.
func TestHostkeysConflictRecordsNeither(t *testing.T) {
	kh := t.TempDir() + "/known_hosts"
	k1, k2 := edKey(t), edKey(t)
	keys := []HostKey{
		{Node: "web1", Host: "bastion", Addr: "10.0.0.1:22", Key: k1, Fingerprint: "a", KnownHosts: kh, State: KeyNew},
		{Node: "web2", Host: "bastion", Addr: "10.0.0.1:22", Key: k2, Fingerprint: "b", KnownHosts: kh, State: KeyNew},
	}
	var out strings.Builder
	fc := &FirstContact{Out: &out}
	fresh, bad := fc.table([]NodeScan{{Node: "web1", Keys: keys[:1]}, {Node: "web2", Keys: keys[1:]}}, true)
	if len(fresh) != 0 || bad != 2 || strings.Count(out.String(), "CONFLICT") != 2 {
		t.Errorf("two keys for one host: %d to record, %d problems, want 0 and 2:\n%s", len(fresh), bad, out.String())
	}
}
