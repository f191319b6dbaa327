package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"strings"

	"github.com/concdeploy/conc/agentclient"
	"github.com/concdeploy/conc/config"
	"github.com/concdeploy/conc/jobs"
	"github.com/concdeploy/conc/jobs/localops"
	"github.com/concdeploy/conc/jobs/nodeops"
	"github.com/concdeploy/conc/nodetest"
	"github.com/concdeploy/conc/paramuse"
	"github.com/concdeploy/conc/prompt"
	"github.com/concdeploy/conc/rollout"
	"github.com/concdeploy/conc/runreport"
	"github.com/concdeploy/conc/sshconn"
	"github.com/rs/zerolog"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"
)

// version is set by the build (-ldflags -X main.version=...).
var version = "dev"

// app holds what every subcommand shares: the streams and global flags.
type app struct {
	ctx            context.Context // the invocation's, for load: commands take theirs from cobra
	stdin          io.Reader
	stdout, stderr io.Writer

	files     []string
	params    []string // -p KEY=VALUE
	verbose   bool
	logFile   string
	acceptNew bool
	color     string // --color: auto, always or never
	stateDir  string

	// agentDir, a hidden flag, loads agents from a directory instead of
	// the embedded ones, for developing the agent; agents overrides both
	// in tests.
	agentDir string
	agents   agentclient.Agents
	logW     *os.File
	// cpuProfile, a hidden flag, writes a CPU profile of the command, for
	// finding where a run's time goes (docs/performance.md).
	cpuProfile string
	profW      *os.File
	// ask, when set, answers conc's yes/no questions instead of the
	// terminal: tests decide when and how the operator answers.
	ask func(question string) (bool, error)
}

// ops is the catalogue of every op conc knows: those the agent runs on the
// node, those only the controller runs, and the node tests.
var ops = jobs.MustCatalogue(nodeops.Ops(), localops.Ops(), []jobs.Op{nodetest.Op()})

// exitError carries an exit code out of a command; a nil err prints
// nothing more.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// usageErr marks an error as the operator's: exit 2, before any connection.
func usageErr(err error) error { return &exitError{code: jobs.ExitUsage, err: err} }

// run is conc without the process around it, for tests.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr}
	return a.execute(ctx, args)
}

func (a *app) execute(ctx context.Context, args []string) int {
	a.ctx = ctx
	root := a.rootCmd()
	root.SetArgs(goTestFlags(args))
	root.SetIn(a.stdin)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.PersistentPreRunE = func(cmd *cobra.Command, args []string) error {
		if len(a.files) == 0 {
			wd, _ := os.Getwd()
			a.files = []string{config.Find(wd)}
		}
		if a.color != "auto" && a.color != "always" && a.color != "never" {
			return usageErr(fmt.Errorf("--color %q: say auto, always or never", a.color))
		}
		return a.startProfile()
	}
	err := root.ExecuteContext(ctx)
	a.stopProfile()
	if a.logW != nil {
		a.logW.Close()
	}
	return a.exitCode(err)
}

// exitCode maps an error to conc's exit codes in one place, printing it.
func (a *app) exitCode(err error) int {
	if err == nil {
		return jobs.ExitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintf(a.stderr, "conc: %v\n", ee.err)
		}
		return ee.code
	}
	var ce *config.Error
	if errors.As(err, &ce) {
		fmt.Fprintf(a.stderr, "conc: %v\n", err)
		return jobs.ExitUsage
	}
	fmt.Fprintf(a.stderr, "conc: %v\n", err)
	if isUsage(err) {
		return jobs.ExitUsage
	}
	return jobs.ExitFailed
}

// isUsage recognises cobra's own errors about flags and arguments.
func isUsage(err error) bool {
	s := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand", "accepts ", "requires ", "invalid argument", "flag needs", "required flag"} {
		if strings.Contains(s, p) {
			return true
		}
	}
	return false
}

// load reads the deploy files. A stop while it reads (a file that never
// ends) exits 4, STOPPED, not 2: the file is not at fault, nothing was done.
func (a *app) load() (*config.File, error) {
	f, err := prompt.Await(a.ctx, func() (*config.File, error) { return config.Load(a.files...) })
	if errors.Is(err, jobs.ErrCanceled) {
		return nil, &exitError{code: jobs.ExitStopped, err: fmt.Errorf("read the deploy file: %w; nothing was done", err)}
	} else if err == nil {
		err = paramuse.Check(f)
	}
	if err == nil {
		f, err = paramuse.Apply(f, a.params)
	}
	if err != nil {
		return nil, usageErr(err)
	}
	return f, nil
}

// invocation is "conc" with the global flags a hint must repeat.
func (a *app) invocation() string {
	s := "conc"
	if len(a.files) != 1 || a.files[0] != "conc.ini" {
		for _, f := range a.files {
			s += " -f " + jobs.Quote(f)
		}
	}
	if a.stateDir != "" {
		s += " --state-dir " + jobs.Quote(a.stateDir)
	}
	for _, p := range a.params {
		s += " -p " + jobs.Quote(p)
	}
	return s
}

// logger returns the diagnostics logger (warnings, everything with -v, to
// stderr; everything to the log file), the file, and the agents conc
// carries: what every command that reaches a node's agent needs.
func (a *app) logger() (zerolog.Logger, io.Writer, agentclient.Agents, error) {
	if a.logFile != "" && a.logW == nil {
		f, err := os.OpenFile(a.logFile, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return zerolog.Nop(), nil, nil, usageErr(fmt.Errorf("open the log file: %w", err))
		}
		a.logW = f
	}
	var file io.Writer
	if a.logW != nil {
		file = a.logW
	}
	agents, err := a.getAgents()
	return runreport.NewLogger(a.stderr, a.colors(a.stderr), a.verbose, file), file, agents, err
}

func (a *app) getAgents() (agentclient.Agents, error) {
	if a.agents != nil {
		return a.agents, nil
	}
	if a.agentDir != "" {
		return agentclient.AgentsFromDir(a.agentDir)
	}
	return agentclient.EmbeddedAgents()
}

// terminalIn returns stdin when it is a terminal, for the questions conc
// asks; without one it must not ask, and never hangs waiting.
func (a *app) terminalIn() (*os.File, bool) {
	f, ok := a.stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil, false
	}
	return f, true
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// noArgsHelp makes a command that needs arguments print its usage.
func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usageErr(fmt.Errorf("%s needs %s (see conc %s --help)", cmd.CommandPath(), what, cmd.Name()))
		}
		return nil
	}
}

func (a *app) startProfile() error {
	if a.cpuProfile == "" {
		return nil
	}
	f, err := os.Create(a.cpuProfile)
	if err != nil {
		return usageErr(fmt.Errorf("cpu profile: %w", err))
	}
	a.profW = f
	return pprof.StartCPUProfile(f)
}

func (a *app) stopProfile() {
	if a.profW != nil {
		pprof.StopCPUProfile()
		a.profW.Close()
	}
}

// oneNode loads the deploy files and resolves one node, for the commands
// that work on a single node.
func (a *app) oneNode(name string) (*config.File, *config.Node, error) {
	f, err := a.load()
	if err != nil {
		return nil, nil, err
	}
	n, err := f.Node(name)
	if err != nil {
		return nil, nil, usageErr(err)
	}
	return f, n, nil
}

// dialOptions are the global flags' connection options; keys recorded
// with --accept-new-host-keys are said on stderr.
func (a *app) dialOptions() sshconn.DialOptions {
	return sshconn.DialOptions{AcceptNewHostKeys: a.acceptNew, Recorded: sshconn.PrintRecorded(a.stderr)}
}

// dial connects to a node with the global flags' options.
func (a *app) dial(ctx context.Context, f *config.File, n *config.Node) (*sshconn.Conn, error) {
	return sshconn.Connect(ctx, f, n, a.dialOptions())
}

// colors says whether w gets ANSI escape codes (colours, the live block):
// --color, then NO_COLOR (no-color.org), then whether w is a terminal.
func (a *app) colors(w io.Writer) bool {
	if a.color != "auto" {
		return a.color == "always"
	}
	return os.Getenv("NO_COLOR") == "" && isTerminal(w)
}

// loadTargets loads the deploy files and resolves NODE|GROUP arguments,
// every node when there are none, narrowed by --limit.
func (a *app) loadTargets(args []string, limit string) (*config.File, []*config.Node, error) {
	f, err := a.load()
	if err != nil {
		return nil, nil, err
	}
	if len(args) == 0 {
		args = f.NodeNames()
	}
	nodes, err := selectNodes(f, args, limit)
	return f, nodes, err
}

// selectNodes resolves NODE|GROUP arguments, narrowed by --limit.
func selectNodes(f *config.File, args []string, limit string) ([]*config.Node, error) {
	nodes, err := f.Targets(args)
	if err == nil && limit != "" {
		nodes, err = rollout.Limit(f, nodes, limit)
	}
	if err != nil {
		return nil, usageErr(err)
	}
	return nodes, nil
}

func limitFlag(f *pflag.FlagSet, limit *string) {
	f.StringVar(limit, "limit", "", "only the nodes matching PATTERN[,PATTERN...]: globs or group names, !PATTERN excludes")
}
