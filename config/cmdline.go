package config

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Params that reach another program's command line. mount_sshfs
// (jobs/localops) runs
//
//	sshfs ADMIN@SSHD.IP:BUNDLE MOUNTPOINT -p PORT -o UserKnownHostsFile=KNOWN_HOSTS -o IdentityFile=IDENTITY ...
//
// where sshfs splits each -o value at commas (a backslash escapes one) and
// passes what it does not know to ssh, so a comma in a path would add an
// option of the file's choosing, such as ProxyCommand. These are refused
// when the file is loaded, at the line that sets them, rather than when
// the step runs.
var optionParams = []struct{ key, option string }{
	{KeyIdentity, "-o IdentityFile="},
	{KeyOpKey, "-o IdentityFile=~/.ssh/id_rsa-"},
	{KeyKnownHosts, "-o UserKnownHostsFile="},
}

var (
	hostRE = regexp.MustCompile(`^[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?(\.[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?)*\.?$`)
	zoneRE = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)
)

// checkCommandLine refuses params that would break out of their place on
// sshfs's command line. dir is the directory relative paths are joined to.
func (n *Node) checkCommandLine(dir string) error {
	for _, o := range optionParams {
		if err := n.checkOption(o.key, o.option, dir); err != nil {
			return err
		}
	}
	if err := n.checkAdmin(); err != nil {
		return err
	}
	if err := n.checkHost(); err != nil {
		return err
	}
	return n.checkArg(KeyBundle, ",", "the ADMIN@HOST:BUNDLE argument of sshfs")
}

func (n *Node) checkOption(key, option, dir string) error {
	if err := n.checkArg(key, `,\`, "sshfs's "+option+"..."); err != nil {
		return err
	}
	v := n.Get(key)
	// As LocalPath reads them: only a path of neither kind is joined to dir.
	if key == KeyOpKey || v == "" || v == "~" || strings.HasPrefix(v, "~/") || filepath.IsAbs(v) {
		return nil
	}
	if r, bad := badRune(dir, `,\`); bad {
		return errorf(n.Params[key].Pos, "node %s: %s = %q is relative to the deploy file's directory %q, which holds %s and so cannot go into sshfs's %s...; give an absolute path or a path from ~/", n.Name, key, clip(v), clip(dir), describe(r), option)
	}
	return nil
}

func (n *Node) checkAdmin() error {
	if err := n.checkArg(KeyAdmin, ",:", "the ADMIN@HOST:BUNDLE argument of sshfs"); err != nil {
		return err
	}
	if v := n.Get(KeyAdmin); strings.HasPrefix(v, "-") {
		return errorf(n.Params[KeyAdmin].Pos, "node %s: %s = %q starts with '-', which sshfs and ssh would read as an option; write the SSH user's name", n.Name, KeyAdmin, clip(v))
	}
	return nil
}

func (n *Node) checkHost() error {
	v := n.Get(KeyIP)
	if validHost(v) {
		return nil
	}
	return errorf(n.Params[KeyIP].Pos, "node %s: %s = %q is not an IPv4 or IPv6 address or a host name; write the address alone, such as 192.0.2.10, 2001:db8::10 or node1.example.com", n.Name, KeyIP, clip(v))
}

// validHost reports whether h is an IP address (IPv6 optionally in
// brackets, as conc's own Addr accepts it) or a host name: nothing that
// could start an option or end the host part of USER@HOST:PATH.
func validHost(h string) bool {
	bracketed := strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]")
	if bracketed {
		h = h[1 : len(h)-1]
	}
	if a, err := netip.ParseAddr(h); err == nil {
		return (a.Is6() || !bracketed) && (a.Zone() == "" || zoneRE.MatchString(a.Zone()))
	}
	return !bracketed && len(h) <= 253 && hostRE.MatchString(h)
}

// checkArg refuses a control character or one of bad in key's value,
// which goes to where.
func (n *Node) checkArg(key, bad, where string) error {
	v := n.Get(key)
	r, found := badRune(v, bad)
	if !found {
		return nil
	}
	return errorf(n.Params[key].Pos, "node %s: %s = %q holds %s, which cannot go into %s safely; %s", n.Name, key, clip(v), describe(r), where, fixFor(key))
}

func badRune(v, bad string) (rune, bool) {
	i := strings.IndexFunc(v, func(r rune) bool { return unicode.IsControl(r) || strings.ContainsRune(bad, r) })
	if i < 0 {
		return 0, false
	}
	r, _ := utf8.DecodeRuneInString(v[i:])
	return r, true
}

func describe(r rune) string {
	if unicode.IsControl(r) {
		return fmt.Sprintf("a control character (%U)", r)
	}
	return fmt.Sprintf("%q", r)
}

func fixFor(key string) string {
	switch key {
	case KeyAdmin:
		return "write the SSH user's name alone"
	case KeyBundle:
		return "name the bundle directory without it"
	case KeyOpKey:
		return "name the key without it"
	}
	return "rename the file, or link to it from a path without it"
}
