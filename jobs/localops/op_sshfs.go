package localops

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"unicode"

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
	paramJump       = "jump"
)

// SSHForwarder is implemented by an Env whose node may be reached through
// jump hosts. ForwardSSH returns the address (127.0.0.1:PORT) of a local
// forward to the node's sshd through the hops, which lasts as long as the
// Env's connection, and the name the node's host key has in known_hosts;
// "" and "" when the node has no jump hosts and sshfs connects to it
// directly.
type SSHForwarder interface {
	ForwardSSH(ctx context.Context) (addr, hostKeyAlias string, err error)
}

type mountSSHFS struct{}

func (mountSSHFS) Info() jobs.Info {
	return jobs.Info{
		Name: "mount_sshfs", Usage: "[--optional]",
		Doc:   "mount the node's bundle on the local bundle with sshfs, with the node's key, port and known_hosts, through its jump hosts (BLOCKED without sshfs; --optional makes that OK)",
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
	fwd, err := forwardOf(ctx, env)
	if err != nil {
		return jobs.Resultf(jobs.Error, "%v", err)
	}
	argv, err := sshfsArgv(sshfs, env.Params(), dir, fwd)
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
	if fwd.addr != "" {
		return jobs.Resultf(jobs.OK, "%s, through the jump hosts by conc's forward: the mount works while conc runs", dir)
	}
	return jobs.Resultf(jobs.OK, "%s", dir)
}

// sshfsForward is where sshfs connects when the node is behind jump hosts.
type sshfsForward struct {
	addr         string // 127.0.0.1:PORT; "" to connect to the node itself
	hostKeyAlias string
}

// forwardOf asks the Env for a forward through the node's jump hosts.
func forwardOf(ctx context.Context, env jobs.Env) (sshfsForward, error) {
	var f sshfsForward
	if fw, ok := env.(SSHForwarder); ok {
		var err error
		f.addr, f.hostKeyAlias, err = fw.ForwardSSH(ctx)
		return f, err
	}
	if j := env.Params()[paramJump]; j != "" && j != "none" {
		return f, fmt.Errorf("the node is reached through jump hosts (%s), and this run cannot give sshfs a way through them", j)
	}
	return f, nil
}

// sshfsArgv builds sshfs's argv from the node's params: the same user,
// address, port, key and known_hosts as conc's own connection (the
// controller gives them resolved, paths absolute), host keys checked
// strictly, and never a prompt. Through a forward, sshfs connects to it
// and checks the node's key under the node's own name. Every value is its
// own argument and is checked before it reaches sshfs; no shell sees them.
func sshfsArgv(sshfs string, p map[string]string, mountpoint string, fwd sshfsForward) ([]string, error) {
	host, port := p[paramIP], p[paramPort]
	if fwd.addr != "" {
		var err error
		if host, port, err = net.SplitHostPort(fwd.addr); err != nil {
			return nil, fmt.Errorf("the forward's address %q: %w", fwd.addr, err)
		}
	}
	if err := checkRemote(p[paramAdmin], host, port, p[paramBundle]); err != nil {
		return nil, err
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	remote := fmt.Sprintf("%s@%s:%s", p[paramAdmin], host, p[paramBundle])
	// -F none: ssh reads no ssh_config of its own, so the mount takes the
	// route and settings conc resolved, not a Host * block's.
	argv := []string{sshfs, remote, mountpoint, "-p", port, "-F", "none"}
	opts := []string{
		"UserKnownHostsFile=" + p[paramKnownHosts],
		"StrictHostKeyChecking=yes",
		"BatchMode=yes",
		"ConnectTimeout=15",
		"ServerAliveInterval=15",
		"ServerAliveCountMax=3",
	}
	if fwd.addr != "" {
		opts = append(opts, "HostKeyAlias="+fwd.hostKeyAlias, "CheckHostIP=no")
	}
	if id := p[paramIdentity]; id != "" {
		if strings.HasSuffix(id, ".pub") {
			return nil, fmt.Errorf("identity %s is a public key; sshfs needs the private key", id)
		}
		opts = append(opts, "IdentityFile="+id, "IdentitiesOnly=yes")
	}
	for _, o := range opts {
		name, value, _ := strings.Cut(o, "=")
		if err := checkOptionValue(name, value); err != nil {
			return nil, err
		}
		argv = append(argv, "-o", o)
	}
	return argv, nil
}

// checkOptionValue refuses a value that would not stay one value of one
// option: sshfs splits -o at commas (a backslash escapes), ssh splits its
// options at spaces, '=' and quotes, and expands % and ~ in paths.
func checkOptionValue(name, v string) error {
	if v == "" {
		return fmt.Errorf("sshfs's -o %s= would be empty", name)
	}
	if i := strings.IndexFunc(v, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r) || strings.ContainsRune(`,\"'=%#`, r)
	}); i >= 0 {
		return fmt.Errorf("%q holds %q, which cannot go into sshfs's -o %s=... safely; rename the file, or link to it from a path without it", v, v[i], name)
	}
	return nil
}

// checkRemote refuses what would not stay in its place in sshfs's
// USER@HOST:BUNDLE argument and -p PORT.
func checkRemote(user, host, port, bundle string) error {
	bad := func(s, chars string) bool {
		return strings.ContainsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) || strings.ContainsRune(chars, r) })
	}
	switch {
	case user == "" || strings.HasPrefix(user, "-") || bad(user, ",:@/"):
		return fmt.Errorf("the SSH user %q cannot go into sshfs's USER@HOST:BUNDLE argument", user)
	case host == "" || strings.HasPrefix(host, "-") || bad(host, ",@/[]"):
		return fmt.Errorf("the address %q cannot go into sshfs's USER@HOST:BUNDLE argument", host)
	case strings.Trim(port, "0123456789") != "" || port == "":
		return fmt.Errorf("the port %q is not a number", port)
	case bad(bundle, ","):
		return errors.New("sshfs options cannot hold a comma; rename the bundle")
	}
	return nil
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
