package localops

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"text/template"

	"github.com/concdeploy/conc/internal/durable"
	"github.com/concdeploy/conc/jobs"
)

// templateOp renders a Go text/template with the node's params. The
// template is always a file of the application, next to the deploy file;
// for a remote job the controller renders it and writes the result on the
// node over SFTP, so the agent needs no template engine.
type templateOp struct{}

func (templateOp) Info() jobs.Info {
	return jobs.Info{
		Name: "template", Usage: "SRC DEST [--mode MODE]",
		Doc:   `render the Go template SRC (next to the deploy file) with the node's params ({{.admin}}, {{index . "sshd.ip"}}; an unknown key fails) and write DEST (relative to the home directory) atomically, mode 0600 unless --mode`,
		Hosts: []jobs.Host{jobs.Local, jobs.Remote},
		// A remote template is rendered here, from the deploy file's
		// directory, and written over SFTP.
		InController: true,
	}
}

func (templateOp) Prepare(_ jobs.Host, args []string) (jobs.Action, error) {
	flags := jobs.NewFlags("template", true)
	mode := flags.String("mode", "0600", "DEST's mode, in octal")
	if err := flags.Parse(args); err != nil {
		return nil, err
	}
	if flags.NArg() != 2 || flags.Arg(0) == "" || flags.Arg(1) == "" {
		return nil, fmt.Errorf("needs SRC and DEST")
	}
	m, err := strconv.ParseUint(*mode, 8, 32)
	if err != nil || m > 0o777 {
		return nil, fmt.Errorf("--mode %q: want permission bits in octal, such as 0644", *mode)
	}
	return templateAction{src: flags.Arg(0), dest: flags.Arg(1), mode: fs.FileMode(m)}, nil
}

type templateAction struct {
	src, dest string
	mode      fs.FileMode
}

func (a templateAction) Run(ctx context.Context, env jobs.Env) jobs.Result {
	src := a.src
	if !filepath.IsAbs(src) {
		src = filepath.Join(env.Dir(), src)
	}
	text, err := os.ReadFile(src)
	if err != nil {
		return jobs.Resultf(jobs.Failed, "read the template: %v", err)
	}
	out, err := render(a.src, string(text), env.Params())
	if err != nil {
		return jobs.Resultf(jobs.Failed, "%v", err)
	}
	if env.Host() == jobs.Remote {
		rfs, err := env.Remote(ctx)
		if err != nil {
			return jobs.Resultf(jobs.Error, "reach the node: %v", err)
		}
		changed, err := rfs.WriteFile(ctx, a.dest, out, a.mode)
		if err != nil {
			return jobs.Resultf(jobs.Failed, "write %s on %s: %v", a.dest, env.Node(), err)
		}
		return change(changed, jobs.Resultf(jobs.OK, "%s on %s (%d bytes, mode %04o)", a.dest, env.Node(), len(out), a.mode))
	}
	dest := a.dest
	if !filepath.IsAbs(dest) {
		dest = filepath.Join(env.Home(), dest)
	}
	if holds(dest, out, a.mode) {
		return change(false, jobs.Resultf(jobs.OK, "%s (%d bytes, mode %04o)", dest, len(out), a.mode))
	}
	if err := writeAtomic(dest, out, a.mode); err != nil {
		return jobs.Resultf(jobs.Failed, "write %s: %v", dest, err)
	}
	return change(true, jobs.Resultf(jobs.OK, "%s (%d bytes, mode %04o)", dest, len(out), a.mode))
}

// change marks r as having changed what was there, or not.
func change(changed bool, r jobs.Result) jobs.Result {
	r.Change = jobs.Unchanged
	if changed {
		r.Change = jobs.Changed
	}
	return r
}

// holds reports whether the regular file p holds data with mode.
func holds(p string, data []byte, mode fs.FileMode) bool {
	fi, err := os.Lstat(p)
	if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm() != mode.Perm() || fi.Size() != int64(len(data)) {
		return false
	}
	have, err := os.ReadFile(p)
	return err == nil && bytes.Equal(have, data)
}

// render executes text as a template named name over params. A key the
// params do not have is an error, also through index, whose builtin would
// quietly yield "" for a map.
func render(name, text string, params map[string]string) ([]byte, error) {
	t, err := template.New(name).Option("missingkey=error").Funcs(template.FuncMap{
		"index": func(m map[string]string, key string) (string, error) {
			v, ok := m[key]
			if !ok {
				return "", fmt.Errorf("map has no entry for key %q", key)
			}
			return v, nil
		},
	}).Parse(text)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := t.Execute(&b, params); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// writeAtomic writes data to dest atomically and durably (internal/durable),
// making its directory first.
func writeAtomic(dest string, data []byte, mode fs.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(dest), 0o700); err != nil {
		return err
	}
	return durable.WriteFile(dest, data, mode)
}
