package localops

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/concdeploy/conc/jobs"
)

// Node params that mount_sshfs reads; the controller resolves them.
const (
	paramAdmin      = "admin"
	paramIP         = "sshd.ip"
	paramPort       = "sshd.port"
	paramIdentity   = "identity"
	paramKnownHosts = "known_hosts"
	paramBundle     = "bundle"
)

type mountSSHFS struct{}

func (mountSSHFS) Info() jobs.Info {
	return jobs.Info{
		Name: "mount_sshfs", Usage: "[--optional]",
		Doc:   "mount the node's bundle on the local bundle with sshfs, with the node's key, port and known_hosts (BLOCKED without sshfs; --optional makes that OK)",
		Hosts: []jobs.Host{jobs.Local}, Bundle: jobs.WritesBundle,
	}
}

func (mountSSHFS) Prepare(_ jobs.Host, args []string) (jobs.Action, error) {
	fs := jobs.NewFlags("mount_sshfs", true)
	optional := fs.Bool("optional", false, "skip, OK, when sshfs is not available")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if len(fs.Args()) > 0 {
		return nil, fmt.Errorf("takes no arguments")
	}
	return mountAction{optional: *optional}, nil
}

type mountAction struct{ optional bool }

func (a mountAction) Run(ctx context.Context, env jobs.Env) jobs.Result {
	sshfs, _, missing := fuseTools()
	if missing != "" {
		if a.optional {
			return jobs.Resultf(jobs.OK, "skipped: %s", missing)
		}
		return jobs.Resultf(jobs.Blocked, "%s", missing)
	}
	dir := env.Bundle()
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return jobs.Resultf(jobs.Failed, "the mount point %s does not exist: run local open_bundle before mount_sshfs", dir)
	}
	if mounted, _ := jobs.IsMountPoint(dir); mounted {
		return jobs.Resultf(jobs.Failed, "%s is already mounted", dir)
	}
	argv, err := sshfsArgv(sshfs, env.Params(), dir)
	if err != nil {
		return jobs.Resultf(jobs.Failed, "%v", err)
	}
	code, err := env.Exec(ctx, jobs.Command{Argv: argv})
	if err != nil || code != 0 {
		r := jobs.ExitResult(code, err)
		r.Message = "sshfs: " + r.Message
		return r
	}
	if mounted, err := jobs.IsMountPoint(dir); err != nil || !mounted {
		return jobs.Resultf(jobs.Failed, "sshfs exited 0 but %s is not mounted", dir)
	}
	if t, ok := env.(jobs.MountTracker); ok {
		t.Mounted(dir)
	}
	return jobs.Resultf(jobs.OK, "%s", dir)
}

// sshfsArgv builds sshfs's argv from the node's params: the same user,
// address, port, key and known_hosts as conc's own connection (the
// controller gives the paths resolved, absolute), host keys checked
// strictly, and never a prompt. Every value is its own argument; no shell
// sees them.
func sshfsArgv(sshfs string, p map[string]string, mountpoint string) ([]string, error) {
	host := p[paramIP]
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	remote := fmt.Sprintf("%s@%s:%s", p[paramAdmin], host, p[paramBundle])
	kh := p[paramKnownHosts]
	argv := []string{sshfs, remote, mountpoint,
		"-p", p[paramPort],
		"-o", "UserKnownHostsFile=" + kh,
		"-o", "StrictHostKeyChecking=yes",
		"-o", "BatchMode=yes",
		"-o", "ConnectTimeout=15",
		"-o", "ServerAliveInterval=15",
		"-o", "ServerAliveCountMax=3",
	}
	if id := p[paramIdentity]; id != "" {
		key := id
		if strings.HasSuffix(key, ".pub") {
			return nil, fmt.Errorf("identity %s is a public key; sshfs needs the private key", id)
		}
		argv = append(argv, "-o", "IdentityFile="+key, "-o", "IdentitiesOnly=yes")
	}
	if strings.ContainsAny(p[paramBundle], ",") || strings.ContainsAny(kh, ",") {
		return nil, errors.New("sshfs options cannot hold a comma; rename the bundle or known_hosts path")
	}
	return argv, nil
}

type unmountSSHFS struct{}

func (unmountSSHFS) Info() jobs.Info {
	return jobs.Info{
		Name: "unmount_sshfs", Usage: "",
		Doc:   "unmount the local bundle with fusermount -u (OK when it is not mounted)",
		Hosts: []jobs.Host{jobs.Local},
	}
}

func (unmountSSHFS) Prepare(_ jobs.Host, args []string) (jobs.Action, error) {
	if len(args) > 0 {
		return nil, fmt.Errorf("takes no arguments")
	}
	return unmountAction{}, nil
}

type unmountAction struct{}

func (unmountAction) Run(ctx context.Context, env jobs.Env) jobs.Result {
	dir := env.Bundle()
	mounted, err := jobs.IsMountPoint(dir)
	if err != nil {
		return jobs.Resultf(jobs.Failed, "%v", err)
	}
	if !mounted {
		return jobs.Resultf(jobs.OK, "%s was not mounted", dir)
	}
	if r := Unmount(ctx, env, dir); r.Status != jobs.OK {
		return r
	}
	return jobs.Resultf(jobs.OK, "unmounted %s", dir)
}

// Unmount unmounts a FUSE mount with fusermount -u, and checks it is gone.
func Unmount(ctx context.Context, env jobs.Env, dir string) jobs.Result {
	_, fusermount, missing := fuseTools()
	if fusermount == "" {
		return jobs.Resultf(jobs.Blocked, "%s", missing)
	}
	code, err := env.Exec(ctx, jobs.Command{Argv: []string{fusermount, "-u", dir}})
	if err != nil || code != 0 {
		r := jobs.ExitResult(code, err)
		r.Message = "fusermount -u " + dir + ": " + r.Message + " (is a shell or editor still inside it?)"
		return r
	}
	if mounted, _ := jobs.IsMountPoint(dir); mounted {
		return jobs.Resultf(jobs.Failed, "%s is still mounted after fusermount -u", dir)
	}
	if t, ok := env.(jobs.MountTracker); ok {
		t.Unmounted(dir)
	}
	return jobs.Result{Status: jobs.OK}
}

// fuseTools finds sshfs and fusermount, and says what is missing and which
// package brings it.
func fuseTools() (sshfs, fusermount, missing string) {
	sshfs, _ = exec.LookPath("sshfs")
	for _, name := range []string{"fusermount3", "fusermount"} {
		if p, err := exec.LookPath(name); err == nil {
			fusermount = p
			break
		}
	}
	switch {
	case sshfs == "":
		return "", fusermount, "sshfs is not installed on this workstation (Debian/Ubuntu: apt install sshfs)"
	case fusermount == "":
		return sshfs, "", "fusermount is not installed on this workstation (Debian/Ubuntu: apt install fuse3)"
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		return sshfs, fusermount, "/dev/fuse is missing: this workstation cannot mount FUSE file systems (load the fuse module, or in a container pass --device /dev/fuse)"
	}
	return sshfs, fusermount, ""
}
