package main

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/concdeploy/conc/internal/sshtest"
	"github.com/concdeploy/conc/internal/testnode"
	"github.com/concdeploy/conc/internal/wanproxy"
)

// throughProxy is n as conc reaches it through a proxy that counts the
// bytes the node receives.
func throughProxy(t *testing.T, n *testnode.Node) (*testnode.Node, *wanproxy.Proxy) {
	t.Helper()
	px, err := wanproxy.Start(n.Addr(), 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(px.Close)
	via := *n
	via.Port = px.Port()
	via.KnownHosts = filepath.Join(t.TempDir(), "known_hosts")
	if err := sshtest.WriteKnownHosts(via.KnownHosts, via.Addr(), via.HostKey); err != nil {
		t.Fatal(err)
	}
	return &via, px
}

// copyMessage is the message of the copy_product job in a --json run.
func copyMessage(t *testing.T, r result) string {
	t.Helper()
	for _, line := range strings.Split(r.stdout, "\n") {
		var e struct{ Event, Op, Message string }
		if json.Unmarshal([]byte(line), &e) == nil && e.Event == "job_end" && e.Op == "copy_product" {
			return e.Message
		}
	}
	t.Fatalf("no copy_product in the run: %s", r)
	return ""
}

// TestStore: a second deploy of unchanged files sends no file content
// (counted in bytes the node received); a blob changed in the node's store
// is found by its hash and sent again, never used; conc cache shows the
// store and --prune empties it; store_limit bounds it.
func TestStore(t *testing.T) {
	testnode.Both(t, func(t *testing.T, n *testnode.Node) {
		via, px := throughProxy(t, n)
		p := newProject(t, via, `[plan deploy]
step = remote open_bundle
step = local copy_product release
step = remote run "rm -rf ../copied && cp -rp release ../copied"
step = remote close_bundle
`)
		const files, size = 16, 128 << 10
		sums := map[string]string{}
		for i := range files {
			b := make([]byte, size)
			rand.Read(b)
			name := fmt.Sprintf("f%02d.bin", i)
			os.MkdirAll(filepath.Join(p.dir, "release"), 0o755)
			os.WriteFile(filepath.Join(p.dir, "release", name), b, 0o644)
			sum := sha256.Sum256(b)
			sums[name] = hex.EncodeToString(sum[:])
		}
		same := func(what string) {
			t.Helper()
			for name, sum := range sums {
				b, err := os.ReadFile(p.nodePath(filepath.Join("copied", name)))
				got := sha256.Sum256(b)
				if err != nil || hex.EncodeToString(got[:]) != sum {
					t.Fatalf("%s: the node's %s is not the local one (%v)", what, name, err)
				}
			}
		}
		deploy := func(what string, args ...string) (string, int64) {
			t.Helper()
			before := px.Sent()
			r := p.conc(append(args, "deploy", "node1", "--json")...)
			if r.code != 0 {
				t.Fatalf("%s: %s", what, r)
			}
			same(what)
			return copyMessage(t, r), px.Sent() - before
		}
		const all = files * size
		msg, sent := deploy("the first deploy")
		if want := fmt.Sprintf("%d file(s), %d byte(s)", files, all); msg != want || sent < all {
			t.Fatalf("the first deploy: %q, %d bytes to the node; want %q, at least %d", msg, sent, want, all)
		}
		msg, sent = deploy("the same files again")
		if want := fmt.Sprintf("0 file(s), 0 byte(s) sent; %d from the node's store", files); msg != want || sent > all/10 {
			t.Fatalf("the same files again: %q, %d bytes to the node; want %q, at most %d", msg, sent, want, all/10)
		}

		// Someone changes a blob in the store, keeping its size and mtime.
		blob := filepath.Join(n.Home, ".cache", "conc", "store", sums["f03.bin"][:2], sums["f03.bin"])
		fi, err := os.Stat(blob)
		if err != nil {
			t.Fatal(err)
		}
		bad := make([]byte, size)
		os.WriteFile(blob, bad, 0o644)
		os.Chtimes(blob, fi.ModTime(), fi.ModTime())
		msg, sent = deploy("a blob changed in the store")
		if want := fmt.Sprintf("1 file(s), %d byte(s) sent; %d from the node's store", size, files-1); msg != want || sent < size || sent > 2*size {
			t.Fatalf("a blob changed in the store: %q, %d bytes to the node; want %q, about %d", msg, sent, want, size)
		}
		b, _ := os.ReadFile(blob)
		if got := sha256.Sum256(b); hex.EncodeToString(got[:]) != sums["f03.bin"] {
			t.Error("the store still holds the changed blob")
		}

		r := p.conc("cache", "node1")
		if want := fmt.Sprintf("holds %d file(s), 2.0 MiB of 1.0 GiB", files); r.code != 0 || !strings.Contains(r.stdout, want) {
			t.Fatalf("conc cache: want %q: %s", want, r)
		}
		r = p.conc("cache", "node1", "--prune")
		if want := fmt.Sprintf("removed %d file(s)", files); r.code != 0 || !strings.Contains(r.stdout, want) {
			t.Fatalf("conc cache --prune: want %q: %s", want, r)
		}
		if msg, sent = deploy("after a prune"); msg != fmt.Sprintf("%d file(s), %d byte(s)", files, all) || sent < all {
			t.Fatalf("after a prune: %q, %d bytes", msg, sent)
		}

		// A limit of 4.5 files' worth keeps 4 of them.
		p.conc("cache", "node1", "--prune")
		deploy("with a small store", "-p", fmt.Sprintf("store_limit=%dK", 9*size/2>>10))
		r = p.conc("cache", "node1", "--json")
		var c struct{ Files, Bytes int64 }
		if err := json.Unmarshal([]byte(r.stdout), &c); err != nil || c.Files != 4 || c.Bytes != 4*size {
			t.Errorf("the store after a deploy with store_limit: %+v (%v): %s", c, err, r)
		}
	})
}

// TestStoreManyFiles: a copy of more small files than the chunks it keeps
// in flight (the agent's answers are taken as it goes, so they never fill
// the channel's window) arrives whole, and again from the store.
func TestStoreManyFiles(t *testing.T) {
	testnode.Both(t, func(t *testing.T, n *testnode.Node) {
		p := newProject(t, n, `[plan deploy]
step = remote open_bundle
step = local copy_product many
step = remote run "rm -rf ../copied && cp -rp many ../copied"
step = remote close_bundle
`)
		const files = 600
		for i := range files {
			p := filepath.Join(p.dir, "many", fmt.Sprintf("d%d", i%7), fmt.Sprintf("f%03d", i))
			os.MkdirAll(filepath.Dir(p), 0o755)
			os.WriteFile(p, []byte(fmt.Sprint(i)), 0o644)
		}
		for _, want := range []string{fmt.Sprintf("%d file(s)", files), fmt.Sprintf("0 file(s), 0 byte(s) sent; %d from the node's store", files)} {
			r := p.conc("deploy", "node1", "--json")
			if msg := copyMessage(t, r); r.code != 0 || !strings.HasPrefix(msg, want) {
				t.Fatalf("copy: %q, want %q: %s", msg, want, r)
			}
			for i := range files {
				rel := filepath.Join(fmt.Sprintf("d%d", i%7), fmt.Sprintf("f%03d", i))
				if got := readFile(t, p.nodePath(filepath.Join("copied", rel))); got != fmt.Sprint(i) {
					t.Fatalf("%s on the node: %q", rel, got)
				}
			}
		}
	})
}
