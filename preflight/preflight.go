// Package preflight says what a run of a plan would do on a node, and
// checks that it could, changing nothing there: conc check and --dry-run.
// It connects as a run does (host key, auth), reads the lock through an
// agent only if the node has one cached (else over SFTP), and asks each
// job's action for a preview (jobs.Previewer): what it would run, copy or
// change, with a diff for text. Its only writes are on the workstation:
// a host key the operator accepted, the stamp of a cached agent.
package preflight

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os/exec"
	"path"
	"strings"
	"time"

	"github.com/pkg/sftp"

	"github.com/concdeploy/conc/agentclient"
	"github.com/concdeploy/conc/bundlefs"
	"github.com/concdeploy/conc/channel"
	"github.com/concdeploy/conc/config"
	"github.com/concdeploy/conc/jobs"
	"github.com/concdeploy/conc/jobs/localops"
	"github.com/concdeploy/conc/nodelock"
	"github.com/concdeploy/conc/runreport"
	"github.com/concdeploy/conc/sshconn"
)

// Run is one node's preflight.
type Run struct {
	Conn   *sshconn.Conn // connected: host key and auth passed
	Node   *config.Node
	Params map[string]string // as the run's ops would see them
	Plan   *config.Plan
	Agents agentclient.Agents
	Dir    string // the deploy file's directory
	Sudo   []byte // the sudo password, when the operator gave one
	Rep    *runreport.Reporter
	Out    *runreport.Outcome // how the preflight ended, for the recap
}

// Check runs the checks and previews every step, and returns the status a
// run would start with: OK when every check passed, BLOCKED when the node
// is locked, FAILED when a check failed, ERROR when conc could not look.
func Check(ctx context.Context, r Run) jobs.Status {
	sc, err := r.Conn.SFTP()
	if err != nil {
		return r.fail(jobs.Error, "sftp", fmt.Sprintf("open SFTP on %s: %v", r.Node.Name, err))
	}
	worst := jobs.OK
	note := func(s jobs.Status, what, msg string) {
		if s != jobs.OK && worst == jobs.OK {
			r.Out.Message = what + ": " + msg
		}
		worst = jobs.Worse(worst, s)
		r.Rep.Printf("  %-7s %-8s %s", label(s), what, msg)
	}
	r.Rep.Printf("%s: preflight of plan %s, as %s@%s; nothing on %s is changed", r.Node.Name, r.Plan.Name, r.Conn.Target.User, r.Conn.Target.Addr, r.Node.Name)
	note(jobs.OK, "connect", "host key verified, logged in")
	upload, cached := r.checkAgentAndLock(ctx, sc, note)
	env := &previewEnv{r: r, sc: sc, noStore: !cached}
	defer env.close()
	var total int64
	made := map[string]bool{}
	sudo := false
	previews := make([]jobs.Preview, len(r.Plan.Steps))
	for i := range r.Plan.Steps {
		st := &r.Plan.Steps[i]
		if s, ok := st.Action.(jobs.SudoUser); ok && s.NeedsSudo() {
			sudo = true
		}
		var p jobs.Preview
		if pv, ok := st.Action.(jobs.Previewer); ok {
			env.host = st.Job.Host
			p = pv.Preview(ctx, env)
		}
		if p.Err == nil {
			p.Err = r.checkNeeds(ctx, sc, st.Job.Host, p, made)
		}
		for _, m := range p.Makes {
			made[path.Clean(m)] = true
		}
		total += p.Bytes
		previews[i] = p
	}
	r.checkSpace(sc, total+upload, note)
	if sudo {
		r.checkSudo(ctx, note)
	}
	for i, p := range previews {
		st := &r.Plan.Steps[i]
		// The line shows the step's arguments when the preview says
		// nothing more, as a run's does.
		res := jobs.Result{Status: jobs.OK, Message: p.What}
		if p.Err != nil {
			res = jobs.Result{Status: jobs.Failed, Message: p.Err.Error()}
			if worst == jobs.OK {
				r.Out.Message = fmt.Sprintf("step %d (%s %s): %v", st.Number, st.Job.Host, st.Job.Op, p.Err)
			}
			worst = jobs.Worse(worst, jobs.Failed)
		}
		if res.Status != jobs.OK {
			// The recap names the step at fault; steps that would run
			// are no outcome of a preflight.
			r.Out.Job(st.Number, st.Job.Op, res)
		}
		r.Rep.Job(r.Node.Name, st.Job.Host, st.Number, len(previews), st.Job.Op, st.Job.Args, res, 0)
		if p.Diff != "" {
			r.Rep.Printf("%s", indent(p.Diff))
		}
	}
	return worst
}

// checkAgentAndLock reads the lock as conc status does when the node has
// the agent cached; else it looks for the bundle over SFTP and says that
// a run would upload the agent, whose size it returns. cached says the
// node's cached agent started and answered.
func (r Run) checkAgentAndLock(ctx context.Context, sc *sftp.Client, note func(jobs.Status, string, string)) (upload int64, cached bool) {
	bundle := r.Node.Get(config.KeyBundle)
	opens := false
	for _, st := range r.Plan.Steps {
		opens = opens || st.Info.Opens(st.Job.Host)
	}
	locked := jobs.Blocked
	if !opens {
		locked = jobs.OK // the plan takes no lock: it runs beside a holder
	}
	st, err := nodelock.PeekStatus(ctx, r.Conn, r.Agents, r.Node)
	var nc *agentclient.NotCachedError
	switch {
	case errors.As(err, &nc):
		msg := fmt.Sprintf("not cached on the node: a run uploads the %s agent (%d bytes) into ~/.cache/conc", nc.Machine, nc.Size)
		if len(nc.Corrupt) > 0 {
			msg += fmt.Sprintf("; the cached %s does not match its sha256: a run removes it, never runs it", strings.Join(nc.Corrupt, ", "))
		}
		note(jobs.OK, "agent", msg)
		if _, err := sc.Lstat(bundle); err == nil {
			note(locked, "lock", fmt.Sprintf("~/%s exists: the node is locked (conc status %s names the holder)", bundle, r.Node.Name))
		} else if errors.Is(err, fs.ErrNotExist) {
			note(jobs.OK, "lock", fmt.Sprintf("~/%s is free", bundle))
		} else {
			note(jobs.Error, "lock", fmt.Sprintf("look for ~/%s: %v", bundle, err))
		}
		return int64(nc.Size), false
	case err != nil && st.Held:
		note(jobs.Error, "lock", err.Error()) // the agent ran, and could not read the bundle
		return 0, false
	case err != nil:
		note(jobs.Error, "agent", err.Error())
		return 0, false
	}
	note(jobs.OK, "agent", "cached on the node, its sha256 checked: a run starts it without an upload")
	if st.Held {
		note(locked, "lock", strings.ReplaceAll(st.Describe(), "\n", "\n                   "))
	} else {
		note(jobs.OK, "lock", fmt.Sprintf("~/%s is free", bundle))
	}
	return 0, true
}

// checkNeeds checks the paths a job needs on the node, and the commands
// it runs on its host.
func (r Run) checkNeeds(ctx context.Context, sc *sftp.Client, host jobs.Host, p jobs.Preview, made map[string]bool) error {
	for _, n := range p.Needs {
		if made[path.Clean(n)] {
			continue
		}
		if _, err := sc.Stat(n); err != nil {
			return fmt.Errorf("needs %s on %s, which is not there and no earlier step makes: %v", n, r.Node.Name, err)
		}
	}
	for _, c := range p.Commands {
		if host == jobs.Local {
			if _, err := exec.LookPath(c); err != nil {
				return fmt.Errorf("runs %s, which is not on this workstation's PATH", c)
			}
			continue
		}
		if _, err := r.exec(ctx, "command -v "+jobs.Quote(c)); err != nil {
			return fmt.Errorf("runs %s, which is not on %s's PATH: install it", c, r.Node.Name)
		}
	}
	return nil
}

// checkSpace compares what a run would copy with the space free in the
// admin's home directory, where the bundle and the cache are.
func (r Run) checkSpace(sc *sftp.Client, need int64, note func(jobs.Status, string, string)) {
	free, ok := bundlefs.Free(sc, ".")
	switch {
	case !ok:
		note(jobs.OK, "space", fmt.Sprintf("%d bytes to copy; the node does not say how much space is free", need))
	case need > free:
		note(jobs.Failed, "space", fmt.Sprintf("%d bytes to copy, but only %d bytes are free in the home directory on %s", need, free, r.Node.Name))
	default:
		note(jobs.OK, "space", fmt.Sprintf("%d bytes to copy; %d bytes free in the home directory", need, free))
	}
}

// checkSudo tries sudo without a password, which changes nothing.
func (r Run) checkSudo(ctx context.Context, note func(jobs.Status, string, string)) {
	out, err := r.exec(ctx, "sudo -n true")
	said := strings.TrimSpace(string(out))
	switch {
	case err == nil:
		note(jobs.OK, "sudo", "works without a password")
	case !strings.Contains(said, "password is required"):
		note(jobs.Failed, "sudo", fmt.Sprintf("a step runs sudo, and sudo -n true on %s failed: %v: %s", r.Node.Name, err, clip(said)))
	case r.Sudo != nil:
		note(jobs.OK, "sudo", "asks for a password: a run gives the one you typed (a preflight does not try it)")
	default:
		note(jobs.Failed, "sudo", "a step runs sudo, which asks for a password on the node; conc asks for it when the run starts")
	}
}

// execTimeout bounds each command a preflight runs on the node: a sudo
// whose PAM module hangs must not hang the check.
const execTimeout = 30 * time.Second

// exec runs a constant command on the node, in a session of its own, and
// returns what it printed on stderr, at most 4 KiB.
func (r Run) exec(ctx context.Context, cmd string) ([]byte, error) {
	s, err := r.Conn.Client.NewSession()
	if err != nil {
		return nil, err
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(ctx, execTimeout)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { s.Close() })
	defer stop()
	stderr := jobs.NewTail(nil)
	s.Stderr = stderr
	err = s.Run(cmd)
	if ctx.Err() != nil {
		err = fmt.Errorf("%s did not end in %s", cmd, execTimeout)
	}
	return stderr.Bytes(), err
}

// clip keeps a node's message to one short line.
func clip(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}

func (r Run) fail(s jobs.Status, what, msg string) jobs.Status {
	r.Out.Message = what + ": " + msg
	r.Rep.Printf("  %-7s %-8s %s", label(s), what, msg)
	return s
}

func label(s jobs.Status) string {
	if s == jobs.OK {
		return "ok"
	}
	return string(s)
}

func indent(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return "      " + strings.Join(lines, "\n      ")
}

// previewEnv is what a job's preview sees: the deploy file's directory,
// the node's params, and the node's files and store, read only.
type previewEnv struct {
	r    Run
	sc   *sftp.Client
	host jobs.Host
	// store is an agent the node has cached, which takes no lock, started
	// for the first question to the node's store; storeErr, why not.
	store    *agentclient.Client
	storeErr error
	noStore  bool // no cached agent answered the lock's check: none is asked
}

var (
	_ jobs.PreviewEnv      = (*previewEnv)(nil)
	_ localops.StorePeeker = (*previewEnv)(nil)
)

// PeekStore asks the node's store which files it holds, through an agent
// the node has cached: without one, a preview would have to upload it.
func (e *previewEnv) PeekStore(ctx context.Context, files []channel.StoreFile) ([]bool, bool, error) {
	if limit, _ := e.r.Node.StoreLimit(); limit == 0 || e.noStore {
		return nil, false, nil
	}
	if e.store == nil && e.storeErr == nil {
		e.store, e.storeErr = agentclient.OpenCached(ctx, e.r.Conn, e.r.Agents, &channel.Hello{
			Version: channel.Version, Node: e.r.Node.Name, Bundle: e.r.Node.Get(config.KeyBundle), LockMode: channel.LockNone,
			Lock: &channel.Record{Holder: nodelock.Holder(), Node: e.r.Node.Name},
		}, nil)
		if e.storeErr == nil && e.store.Ready().Status != string(jobs.OK) {
			e.storeErr = errors.New(e.store.Ready().Message)
		}
	}
	if e.storeErr != nil {
		return nil, false, e.storeErr
	}
	held := make([]bool, 0, len(files))
	for lo := 0; lo < len(files); lo += channel.MaxStoreFiles {
		hi := min(lo+channel.MaxStoreFiles, len(files))
		ans, err := e.store.Store(ctx, channel.Store{Do: channel.StoreShow, Files: files[lo:hi]})
		if err != nil {
			return nil, false, err
		}
		if len(ans.Placed) != hi-lo {
			return nil, false, fmt.Errorf("the node's store answered for %d file(s), not %d", len(ans.Placed), hi-lo)
		}
		for _, p := range ans.Placed {
			held = append(held, p == channel.StoreLinked)
		}
	}
	return held, true, nil
}

func (e *previewEnv) close() {
	if e.store != nil {
		e.store.Close()
	}
}

func (e *previewEnv) Host() jobs.Host           { return e.host }
func (e *previewEnv) Node() string              { return e.r.Node.Name }
func (e *previewEnv) Params() map[string]string { return e.r.Params }
func (e *previewEnv) Dir() string               { return e.r.Dir }

func (e *previewEnv) ReadRemote(ctx context.Context, p string, max int64) ([]byte, fs.FileMode, error) {
	ctx, cancel := context.WithTimeout(ctx, execTimeout)
	defer cancel()
	return bundlefs.ReadFile(ctx, e.sc, p, max)
}
