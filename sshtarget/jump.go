package sshtarget

import (
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"unicode"
)

// hopSpec is one jump host as written in jump = or ProxyJump.
type hopSpec struct {
	raw  string // as written, for messages
	user string // "" when not given
	host string // an address, a host name or an ssh_config alias; no brackets
	port string // "" when not given
}

var (
	hostNameRE = regexp.MustCompile(`^[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_.])?$`)
	zoneRE     = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)
)

// parseJumps reads a jump list: hops separated by commas, each
// [user@]host[:port] (an IPv6 address with a port in brackets, [::1]:22),
// optionally as ssh://[user@]host[:port], as OpenSSH's -J takes them.
func parseJumps(list string) ([]hopSpec, error) {
	var hops []hopSpec
	for i, raw := range strings.Split(list, ",") {
		h, err := parseHop(strings.TrimSpace(raw))
		if err != nil {
			return nil, fmt.Errorf("hop %d (%q): %w", i+1, clip(strings.TrimSpace(raw)), err)
		}
		hops = append(hops, h)
	}
	return hops, nil
}

func parseHop(raw string) (hopSpec, error) {
	h := hopSpec{raw: raw}
	if raw == "" {
		return h, fmt.Errorf("empty: write [user@]host[:port], hops separated by single commas")
	}
	s := strings.TrimPrefix(raw, "ssh://")
	if at := strings.LastIndexByte(s, '@'); at >= 0 {
		h.user, s = s[:at], s[at+1:]
		if err := checkUser(h.user); err != nil {
			return h, err
		}
	}
	var err error
	if h.host, h.port, err = splitHostPort(s); err != nil {
		return h, err
	}
	if h.host == "" {
		return h, fmt.Errorf("no host: write [user@]host[:port]")
	}
	if !validHost(h.host) {
		return h, fmt.Errorf("%q is not an IP address, a host name or an ssh_config alias", clip(h.host))
	}
	if h.port != "" {
		if err := checkPort(h.port); err != nil {
			return h, err
		}
	}
	return h, nil
}

// splitHostPort splits host[:port], [host]:port or a bare IPv6 address.
func splitHostPort(s string) (host, port string, err error) {
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return "", "", fmt.Errorf("'[' without ']'")
		}
		host, rest := s[1:end], s[end+1:]
		if rest == "" {
			return host, "", nil
		}
		if !strings.HasPrefix(rest, ":") {
			return "", "", fmt.Errorf("%q after ']': write [address]:port", clip(rest))
		}
		return host, rest[1:], nonEmptyPort(rest[1:])
	}
	switch strings.Count(s, ":") {
	case 0:
		return s, "", nil
	case 1:
		host, port, _ = strings.Cut(s, ":")
		return host, port, nonEmptyPort(port)
	}
	if _, err := netip.ParseAddr(s); err == nil {
		return s, "", nil
	}
	return "", "", fmt.Errorf("an IPv6 address with a port is written in brackets: [2001:db8::1]:22")
}

func nonEmptyPort(p string) error {
	if p == "" {
		return checkPort(p)
	}
	return nil
}

// validHost reports whether h is an IP address or a name: nothing that
// could start an option or end the host part of USER@HOST:PATH.
func validHost(h string) bool {
	if a, err := netip.ParseAddr(h); err == nil {
		return a.Zone() == "" || zoneRE.MatchString(a.Zone())
	}
	return len(h) <= 253 && hostNameRE.MatchString(h)
}

func checkPort(p string) error {
	n, err := strconv.Atoi(p)
	if err != nil || n < 1 || n > 65535 || strings.HasPrefix(p, "+") {
		return fmt.Errorf("port %q is not a number from 1 to 65535", clip(p))
	}
	return nil
}

// checkUser refuses a user name that could not be passed on as one:
// empty, an option, or holding what separates user, host and options.
func checkUser(u string) error {
	switch {
	case u == "":
		return fmt.Errorf("empty user name before '@'")
	case strings.HasPrefix(u, "-"):
		return fmt.Errorf("user %q starts with '-'", clip(u))
	case strings.ContainsFunc(u, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r) || strings.ContainsRune(",:@/\\'\"", r)
	}):
		return fmt.Errorf("user %q holds a space, a control character or one of , : @ / \\ ' \"", clip(u))
	}
	return nil
}
