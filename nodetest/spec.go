// Package nodetest runs tests on a node through the agent: checks of a
// freshly paved node, or a regular credentialed scan, with results sent back
// down the channel as they finish. Tests are declared as data in the deploy
// file ([test NAME] sections, compiled to Specs here), or written in Go
// against T and registered by name, so that a program embedding conc's agent
// can ship its own. The declarative checks are built on the same T.
package nodetest

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The checks a [test NAME] section can make; each section makes one.
const (
	CheckRun    = "run"    // a command's exit status and output
	CheckFile   = "file"   // a file exists, with mode, owner, contents
	CheckPort   = "port"   // something listens on [HOST:]PORT
	CheckPython = "python" // a module imports in a venv: "VENV MODULE"
	CheckHTTP   = "http"   // an http:// URL answers with a status and body
)

var checks = []string{CheckRun, CheckFile, CheckPort, CheckPython, CheckHTTP}

// keysOf lists the keys each check takes besides its own, timeout and skip.
var keysOf = map[string][]string{
	CheckRun:    {"sudo", "expect", "expect_regex", "expect_exit"},
	CheckFile:   {"mode", "owner", "contains", "expect", "expect_regex"},
	CheckPort:   {},
	CheckPython: {},
	CheckHTTP:   {"expect_status", "expect", "expect_regex"},
}

// DefaultTimeout bounds a test that sets no timeout.
const DefaultTimeout = 30 * time.Second

// Def is a [test NAME] section as written, with its values substituted and
// where each key was set ("file:line"), for messages.
type Def struct {
	Name   string
	Pos    string
	Keys   []string
	Vals   map[string]string
	KeyPos map[string]string
}

// Spec is a compiled declarative test, as it travels to the agent.
type Spec struct {
	Name         string        `json:"name"`
	Check        string        `json:"check"`
	Arg          string        `json:"arg"`
	Sudo         bool          `json:"sudo,omitempty"`
	Expect       *string       `json:"expect,omitempty"`
	ExpectRegex  string        `json:"expect_regex,omitempty"`
	ExpectExit   int           `json:"expect_exit,omitempty"`
	ExpectStatus int           `json:"expect_status,omitempty"`
	Mode         string        `json:"mode,omitempty"`
	Owner        string        `json:"owner,omitempty"`
	Contains     string        `json:"contains,omitempty"`
	Timeout      time.Duration `json:"timeout,omitempty"`
	Skip         string        `json:"skip,omitempty"`
}

// Compile checks a Def and makes its Spec. Its errors name the file and
// line of the key at fault.
func Compile(d Def) (Spec, error) {
	s := Spec{Name: d.Name, Timeout: DefaultTimeout, ExpectStatus: 200}
	at := func(key string) string {
		if p := d.KeyPos[key]; p != "" {
			return p
		}
		return d.Pos
	}
	errf := func(key, format string, args ...any) error {
		return fmt.Errorf("%s: [test %s]: %s", at(key), d.Name, fmt.Sprintf(format, args...))
	}
	for _, k := range d.Keys {
		if slices.Contains(checks, k) {
			if s.Check != "" {
				return s, errf(k, "makes two checks, %s and %s; one test makes one check", s.Check, k)
			}
			s.Check, s.Arg = k, d.Vals[k]
		}
	}
	if s.Check == "" {
		return s, errf("", "checks nothing: give it one of %s", strings.Join(checks, ", "))
	}
	for _, k := range d.Keys {
		v := d.Vals[k]
		if k == s.Check {
			continue
		}
		if err := s.set(k, v); err != nil {
			return s, errf(k, "%v", err)
		}
	}
	return s, s.checkArg(func(format string, args ...any) error { return errf(s.Check, format, args...) })
}

// set reads one assertion or option key.
func (s *Spec) set(k, v string) error {
	switch k {
	case "timeout", "skip":
	default:
		if !slices.Contains(keysOf[s.Check], k) {
			allowed := append(append([]string{}, keysOf[s.Check]...), "timeout", "skip")
			return fmt.Errorf("unknown key %q for a %s check (it takes %s)", k, s.Check, strings.Join(allowed, ", "))
		}
	}
	var err error
	switch k {
	case "timeout":
		s.Timeout, err = time.ParseDuration(v)
		if err != nil || s.Timeout <= 0 {
			return fmt.Errorf("timeout = %q: want a duration such as 10s", v)
		}
	case "skip":
		s.Skip = v
		if v == "" {
			s.Skip = "skipped in the deploy file"
		}
	case "sudo":
		switch strings.ToLower(v) {
		case "yes", "true":
			s.Sudo = true
		case "no", "false":
			s.Sudo = false
		default:
			return fmt.Errorf("sudo = %q: want yes or no", v)
		}
	case "expect":
		v := v
		s.Expect = &v
	case "expect_regex":
		if _, err := regexp.Compile(v); err != nil {
			return fmt.Errorf("expect_regex: %v", err)
		}
		s.ExpectRegex = v
	case "expect_exit":
		if s.ExpectExit, err = strconv.Atoi(v); err != nil || s.ExpectExit < 0 || s.ExpectExit > 255 {
			return fmt.Errorf("expect_exit = %q: want an exit status, 0 to 255", v)
		}
	case "expect_status":
		if s.ExpectStatus, err = strconv.Atoi(v); err != nil || s.ExpectStatus < 100 || s.ExpectStatus > 599 {
			return fmt.Errorf("expect_status = %q: want an HTTP status such as 200", v)
		}
	case "mode":
		if m, err := strconv.ParseUint(v, 8, 32); err != nil || m > 0o7777 {
			return fmt.Errorf("mode = %q: want octal permission bits such as 0600", v)
		}
		s.Mode = v
	case "owner":
		s.Owner = v
	case "contains":
		s.Contains = v
	}
	return nil
}

// checkArg validates the check's own value.
func (s *Spec) checkArg(errf func(string, ...any) error) error {
	switch s.Check {
	case CheckRun, CheckFile:
		if strings.TrimSpace(s.Arg) == "" {
			return errf("%s = needs a value", s.Check)
		}
	case CheckPort:
		if _, _, err := splitPort(s.Arg); err != nil {
			return errf("%v", err)
		}
	case CheckPython:
		if len(strings.Fields(s.Arg)) != 2 {
			return errf("python = %q: want VENV MODULE, as in python = venvs/app app.main", s.Arg)
		}
	case CheckHTTP:
		if !strings.HasPrefix(s.Arg, "http://") {
			return errf("http = %q: want an http:// URL (for https, use a run check with curl)", s.Arg)
		}
	}
	return nil
}

// splitPort reads [HOST:]PORT, HOST defaulting to 127.0.0.1.
func splitPort(v string) (host, port string, err error) {
	host, port = "127.0.0.1", v
	if i := strings.LastIndexByte(v, ':'); i >= 0 {
		host, port = strings.Trim(v[:i], "[]"), v[i+1:]
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return "", "", fmt.Errorf("port = %q: want [HOST:]PORT", v)
	}
	return host, port, nil
}
