package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/concdeploy/conc/internal/testnode"
)

// TestTamperedAgent replaces the agent cached on the node, and overwrites
// it in place: neither is ever run. The boot checks the cache against its
// sha256, removes what fails, says so, uploads the agent again, and the
// deploy goes on.
func TestTamperedAgent(t *testing.T) {
	testnode.Both(t, func(t *testing.T, n *testnode.Node) {
		p := newProject(t, n, "[plan deploy]\nstep = remote open_bundle\nstep = remote run true\nstep = remote close_bundle\n")
		if r := p.conc("deploy", "node1"); r.code != 0 {
			t.Fatalf("first deploy: %s", r)
		}
		cached, _ := filepath.Glob(p.nodePath(".cache/conc/conc-agent-*[0-9a-f]"))
		if len(cached) != 1 {
			t.Fatalf("cached agents: %v", cached)
		}
		agent := cached[0]
		marker := p.nodePath("tampered-ran")
		tamper := map[string]func(){
			"replaced": func() {
				os.Remove(agent)
				os.WriteFile(agent, []byte("#!/bin/sh\ntouch "+marker+"\n"), 0o700)
			},
			"overwritten in place": func() {
				f := openWhenIdle(t, agent)
				f.WriteAt([]byte("#!/bin/sh\ntouch "+marker+"\n"), 0)
				f.Close()
			},
		}
		for _, name := range []string{"replaced", "overwritten in place"} {
			t.Run(name, func(t *testing.T) {
				tamper[name]()
				r := p.conc("deploy", "node1")
				if r.code != 0 || !strings.Contains(r.stdout, "did not match its sha256") {
					t.Errorf("deploy with a tampered cached agent: %s\nwant OK, saying the agent was replaced", r)
				}
				if exists(marker) {
					t.Fatal("the tampered agent was run")
				}
				b, err := os.ReadFile(agent)
				if err != nil {
					t.Fatal(err)
				}
				sum := sha256.Sum256(b)
				if want := strings.TrimPrefix(filepath.Base(agent), "conc-agent-"); hex.EncodeToString(sum[:]) != want {
					t.Errorf("the cache holds %x, not the agent %s", sum, want)
				}
				if r := p.conc("deploy", "node1"); r.code != 0 || strings.Contains(r.stdout, "did not match") {
					t.Errorf("the next deploy, with the agent cached again: %s", r)
				}
			})
		}
	})
}

// openWhenIdle opens the executable at path for writing once no process
// runs it any more (the last run's agent exits after its bye), as someone
// tampering with it would have to wait too.
func openWhenIdle(t *testing.T, path string) *os.File {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err == nil {
			return f
		}
		if !errors.Is(err, syscall.ETXTBSY) || time.Now().After(deadline) {
			t.Fatalf("open %s for writing: %v", path, err)
		}
	}
}
