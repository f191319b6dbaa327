//go:build bench

package bench

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/concdeploy/conc/internal/testnode"
)

var (
	concBin = flag.String("conc", "../bin/conc", "the conc binary to measure")
	out     = flag.String("json", "results.json", "where to write the results as JSON")
	quick   = flag.Bool("quick", false, "fewer repetitions, for trying the harness")
	only    = flag.String("only", "", "measure only this figure: perjob, first, copy, sizes, fleet or wan")
	fleetN  = flag.Int("fleet", 50, "how many nodes the fleet figure deploys to")
	// The nodes of the fleet share one sshd, which with OpenSSH's default
	// MaxStartups (10:30:100) drops connections past 10 unauthenticated
	// ones, and conc does not redial. At most 10 nodes at once can never be
	// dropped; internal/testnode does not raise MaxStartups.
	fleetPar = flag.Int("fleet-parallel", 50, "conc deploy --parallel for the fleet figure")
)

// Figure is one line of the table.
type Figure struct {
	Name     string  `json:"name"`
	Conc     float64 `json:"conc"`
	Baseline float64 `json:"baseline,omitempty"`
	Unit     string  `json:"unit"`
	BaseName string  `json:"baseline_name,omitempty"`
	Ratio    float64 `json:"ratio,omitempty"`
	Target   string  `json:"target"`
	Holds    bool    `json:"holds"`
	Note     string  `json:"note,omitempty"`
}

type bench struct {
	t    *testing.T
	node *testnode.Node
	dir  string
	ini  string
	reps int
	// notes are printed under the table.
	notes []string
}

func TestBench(t *testing.T) {
	b := &bench{t: t, node: testnode.OpenSSH(t), dir: t.TempDir(), reps: 9}
	if *quick {
		b.reps = 3
	}
	b.writeIni()
	var figs []Figure
	want := func(name string) bool { return *only == "" || *only == name }
	echo := b.echoRTT(2000)
	sshTrue := b.median(func() time.Duration { return b.timeCmd("ssh", b.sshArgs("true")...) })
	b.conc("run", "first", "node") // caches the agent
	if want("perjob") {
		figs = append(figs, b.perJob(echo))
	}
	if want("first") {
		cached := b.median(func() time.Duration { return b.timeCmd(*concBin, "-f", b.ini, "run", "first", "node") })
		figs = append(figs, ratio("time to first job, agent cached", cached, sshTrue, "ssh node true", "<= 1.00", 1.0, false))
		uncached := b.median(func() time.Duration {
			os.RemoveAll(filepath.Join(b.node.Home, ".cache"))
			return b.timeCmd(*concBin, "-f", b.ini, "run", "first", "node")
		})
		figs = append(figs, ratio("time to first job, agent not cached", uncached, sshTrue, "ssh node true", "<= 1.50", 1.5, false))
	}
	if want("copy") {
		figs = append(figs, b.copyFigures()...)
	}
	if want("sizes") {
		figs = append(figs, b.sizes()...)
	}
	if want("fleet") {
		figs = append(figs, b.fleet(*fleetN)...)
	}
	if want("wan") {
		figs = append(figs, b.wan()...)
	}
	b.report(figs, echo, sshTrue)
}

// nodeIni is the start of a deploy file for the one node n, named node,
// with its bundle and local bundle.
func nodeIni(n *testnode.Node, bundle, local string) string {
	return fmt.Sprintf("[defaults]\nadmin = %s\nidentity = %s\nknown_hosts = %s\nbundle = %s\nlocal_bundle = %s\n\n[node node]\nsshd.ip = %s\nsshd.port = %d\n\n",
		n.User, n.Identity, n.KnownHosts, bundle, local, n.Host, n.Port)
}

// writeIni writes the deploy file the runs use.
func (b *bench) writeIni() {
	n := b.node
	var pings strings.Builder
	for range 2001 {
		pings.WriteString("step = remote ping\n")
	}
	ini := nodeIni(n, ".conc-bench", filepath.Join(b.dir, "local")) + fmt.Sprintf(`[plan first]
step = remote open_bundle
step = remote ping
step = remote close_bundle

[plan ping1]
step = remote open_bundle
step = remote ping
step = remote close_bundle

[plan ping2001]
step = remote open_bundle
%sstep = remote close_bundle

[plan copy-big]
step = remote open_bundle
step = local copy_product big/*
step = remote close_bundle

[plan copy-small]
step = remote open_bundle
step = local copy_product small
step = remote close_bundle
`, pings.String())
	b.ini = filepath.Join(b.dir, "conc.ini")
	if err := os.WriteFile(b.ini, []byte(ini), 0o600); err != nil {
		b.t.Fatal(err)
	}
}

func (b *bench) sshArgs(cmd ...string) []string {
	return append(append([]string{"-F", "/dev/null"}, b.node.SSHOptions()...), append([]string{b.node.User + "@" + b.node.Host}, cmd...)...)
}

// conc runs conc and fails the benchmark if it does not exit 0.
func (b *bench) conc(args ...string) time.Duration {
	cmd := exec.Command(*concBin, append([]string{"-f", b.ini}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Run(); err != nil {
		b.t.Fatalf("conc %v: %v\n%s", args, err, out.String())
	}
	return time.Since(start)
}

// timeCmd runs a command, discarding its output, and times it.
func (b *bench) timeCmd(name string, args ...string) time.Duration {
	cmd := exec.Command(name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = io.Discard, &out
	start := time.Now()
	if err := cmd.Run(); err != nil {
		b.t.Fatalf("%s %v: %v\n%s", name, args, err, out.String())
	}
	return time.Since(start)
}

// median runs f reps times (after one warm-up) and returns the median.
func (b *bench) median(f func() time.Duration) time.Duration {
	f()
	var ds []time.Duration
	for range b.reps {
		ds = append(ds, f())
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[len(ds)/2]
}

// echoRTT is the floor of a remote job: an x/crypto/ssh client writing a
// small frame to cat on the node and reading it back.
func (b *bench) echoRTT(n int) time.Duration {
	c := b.node.Dial(b.t)
	sess, err := c.NewSession()
	if err != nil {
		b.t.Fatal(err)
	}
	defer sess.Close()
	in, _ := sess.StdinPipe()
	outp, _ := sess.StdoutPipe()
	if err := sess.Start("cat"); err != nil {
		b.t.Fatal(err)
	}
	r := bufio.NewReader(outp)
	frame := make([]byte, 32)
	back := make([]byte, 32)
	round := func() {
		if _, err := in.Write(frame); err != nil {
			b.t.Fatal(err)
		}
		if _, err := io.ReadFull(r, back); err != nil {
			b.t.Fatal(err)
		}
	}
	for range 200 {
		round()
	}
	return b.median(func() time.Duration {
		start := time.Now()
		for range n {
			round()
		}
		return time.Since(start) / time.Duration(n)
	})
}

// perJob is figure 1: (2001 pings - 1 ping) / 2000, as whole runs.
func (b *bench) perJob(echo time.Duration) Figure {
	one := b.median(func() time.Duration { return b.conc("run", "ping1", "node") })
	many := b.median(func() time.Duration { return b.conc("run", "ping2001", "node") })
	return ratio("per-job overhead (remote ping)", (many-one)/2000, echo, "raw SSH echo round trip", "<= 1.50", 1.5, false)
}

func ratio(name string, conc, base time.Duration, baseName, target string, limit float64, higherBetter bool) Figure {
	r := float64(conc) / float64(base)
	holds := r <= limit
	if higherBetter {
		holds = r >= limit
	}
	return Figure{Name: name, Conc: seconds(conc), Baseline: seconds(base), Unit: "s", BaseName: baseName, Ratio: r, Target: target, Holds: holds}
}

func seconds(d time.Duration) float64 { return d.Seconds() }

// copyFigures is figure 4: copy_product throughput against scp.
func (b *bench) copyFigures() []Figure {
	big := filepath.Join(b.dir, "big")
	small := filepath.Join(b.dir, "small")
	os.MkdirAll(big, 0o755)
	os.MkdirAll(small, 0o755)
	data := make([]byte, 256<<20)
	rand.Read(data)
	os.WriteFile(filepath.Join(big, "big.bin"), data, 0o644)
	chunk := make([]byte, 16<<10)
	for i := range 2000 {
		rand.Read(chunk)
		os.WriteFile(filepath.Join(small, fmt.Sprintf("f%04d.bin", i)), chunk, 0o644)
	}
	var figs []Figure
	for _, c := range []struct {
		name, plan, src string
		bytes           float64
		scpArgs         []string
	}{
		{"copy_product 1 x 256 MiB", "copy-big", big, 256 << 20, []string{filepath.Join(big, "big.bin")}},
		{"copy_product 2000 x 16 KiB", "copy-small", small, 2000 * 16 << 10, []string{"-r", small}},
	} {
		// A first copy each time: the node's store of bundle files would
		// make the second a re-deploy.
		concTime := b.median(func() time.Duration {
			b.conc("cache", "node", "--prune")
			return b.copyJob(c.plan)
		})
		scpTime := b.median(func() time.Duration {
			dest := b.node.User + "@" + b.node.Host + ":scp-dest"
			os.RemoveAll(filepath.Join(b.node.Home, "scp-dest"))
			args := append(append(append([]string{"-F", "/dev/null", "-q"}, b.node.SSHOptions()...), c.scpArgs...), dest)
			return b.timeCmd("scp", args...)
		})
		cr, sr := c.bytes/concTime.Seconds()/(1<<20), c.bytes/scpTime.Seconds()/(1<<20)
		figs = append(figs, Figure{Name: c.name, Conc: cr, Baseline: sr, Unit: "MiB/s", BaseName: "scp", Ratio: cr / sr, Target: ">= 0.90", Holds: cr/sr >= 0.9})
	}
	return figs
}

// copyJob runs a copy plan and returns the copy_product job's duration, as
// conc's JSON log reports it.
func (b *bench) copyJob(plan string) time.Duration {
	log := filepath.Join(b.dir, "copy.log")
	os.Remove(log)
	b.conc("--log-file", log, "run", plan, "node")
	f, err := os.Open(log)
	if err != nil {
		b.t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var ev struct {
			Op  string  `json:"op"`
			Dur float64 `json:"dur"`
		}
		if json.Unmarshal(sc.Bytes(), &ev) == nil && ev.Op == "copy_product" {
			return time.Duration(ev.Dur * float64(time.Millisecond))
		}
	}
	b.t.Fatalf("no copy_product job in %s", log)
	return 0
}

// sizes is figure 5: the agent's size, and peak memory of both sides.
func (b *bench) sizes() []Figure {
	var figs []Figure
	agent := filepath.Join(filepath.Dir(*concBin), "..", "agentclient", "agents", "conc-agent-linux-amd64")
	if fi, err := os.Stat(agent); err == nil {
		mib := float64(fi.Size()) / (1 << 20)
		figs = append(figs, Figure{Name: "agent binary (linux/amd64, stripped)", Conc: mib, Unit: "MiB", Target: "<= 4.00", Holds: mib <= 4})
	}
	// Both sides log their peak RSS: the agent in its bye, conc as it
	// exits. (The rusage of a child of this process would count this
	// process's pages, shared until exec.)
	log := filepath.Join(b.dir, "rss.log")
	b.conc("-v", "--log-file", log, "run", "ping2001", "node")
	figs = append(figs, Figure{Name: "controller peak RSS (2001 jobs)", Conc: loggedKB(b.t, log, "max_rss_kb") / 1024, Unit: "MiB", Target: "-", Holds: true})
	figs = append(figs, Figure{Name: "agent peak RSS (2001 jobs)", Conc: loggedKB(b.t, log, "agent_max_rss_kb") / 1024, Unit: "MiB", Target: "-", Holds: true})
	return figs
}

// loggedKB finds the last value of a key in conc's JSON log.
func loggedKB(t *testing.T, log, key string) float64 {
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	var kb float64
	for _, line := range strings.Split(string(b), "\n") {
		var ev map[string]any
		if json.Unmarshal([]byte(line), &ev) == nil {
			if v, ok := ev[key].(float64); ok {
				kb = v
			}
		}
	}
	if kb == 0 {
		t.Errorf("no %s in %s", key, log)
	}
	return kb
}

func (b *bench) report(figs []Figure, echo, sshTrue time.Duration) {
	var w strings.Builder
	fmt.Fprintf(&w, "\nconc benchmarks against loopback OpenSSH (median of %d runs; raw SSH echo %s, ssh node true %s)\n\n",
		b.reps, echo.Round(time.Microsecond), sshTrue.Round(time.Millisecond))
	fmt.Fprintf(&w, "%-40s %14s %14s %-24s %7s %8s %s\n", "figure", "conc", "baseline", "(baseline is)", "ratio", "target", "holds")
	for _, f := range figs {
		base, rat := "-", "-"
		if f.BaseName != "" {
			base, rat = format(f.Baseline, f.Unit), fmt.Sprintf("%.2fx", f.Ratio)
		}
		holds := "yes"
		if !f.Holds {
			holds = "NO"
		}
		fmt.Fprintf(&w, "%-40s %14s %14s %-24s %7s %8s %s\n", f.Name, format(f.Conc, f.Unit), base, f.BaseName, rat, f.Target, holds)
	}
	for _, n := range b.notes {
		fmt.Fprintf(&w, "\n%s\n", n)
	}
	fmt.Print(w.String())
	doc := map[string]any{"when": time.Now().UTC().Format(time.RFC3339), "reps": b.reps, "figures": figs}
	j, _ := json.MarshalIndent(doc, "", "  ")
	if err := os.WriteFile(*out, append(j, '\n'), 0o644); err != nil {
		b.t.Error(err)
	}
}

func format(v float64, unit string) string {
	switch unit {
	case "s":
		d := time.Duration(v * float64(time.Second))
		if d < time.Millisecond {
			return d.Round(100 * time.Nanosecond).String()
		}
		return d.Round(10 * time.Microsecond).String()
	case "MiB/s":
		return fmt.Sprintf("%.0f MiB/s", v)
	}
	return fmt.Sprintf("%.2f %s", v, unit)
}

// fleetPlan is the plan of the fleet figure: ten jobs, the shape of a small
// deploy. Three run in conc itself (remote open_bundle, which connects and
// starts the agent, and the local put and template), remote template is
// rendered by conc and written over SFTP, the rest run in the agent.
// None forks a process on the workstation, so the rusage of the conc
// process is conc's own CPU.
const fleetPlan = `[plan deploy]
step = remote open_bundle
step = local  put fleet/app.env
step = remote template fleet/app.cfg.tmpl ${bundle}/app.cfg --mode 0640
step = remote run test -s app.env
step = remote ping
step = remote run "grep -q listen app.cfg"
step = remote ping
step = remote run true
step = local  template fleet/app.cfg.tmpl %s/${name}.cfg
step = remote close_bundle
`

// fleetJobs is the number of steps of fleetPlan.
const fleetJobs = 10

// fleet is figure 6: the same ten-job plan on one node and on n nodes at
// once. The n nodes are n [node] sections for the benchmark's one sshd, each
// with a bundle (and so a lock) of its own. On a small machine the sshd and
// the agents behind it bound the wall time, so the figure that scales is
// conc's own CPU per node: the user and system time of the conc process,
// from its rusage, divided by the nodes.
func (b *bench) fleet(n int) []Figure {
	if n < 2 {
		b.t.Fatalf("-fleet %d: the fleet figure needs at least 2 nodes", n)
	}
	dir := filepath.Join(b.dir, "fleet")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.t.Fatal(err)
	}
	env := strings.Repeat("APP_SETTING=value\n", 64)
	tmpl := "# written by conc for node {{.name}}\nlisten = {{index . \"sshd.ip\"}}:8080\nbundle = {{.bundle}}\n"
	for name, data := range map[string]string{"app.env": env, "app.cfg.tmpl": tmpl} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			b.t.Fatal(err)
		}
	}
	nd := b.node
	var w strings.Builder
	fmt.Fprintf(&w, "[defaults]\nadmin = %s\nidentity = %s\nknown_hosts = %s\nsshd.ip = %s\nsshd.port = %d\n\n",
		nd.User, nd.Identity, nd.KnownHosts, nd.Host, nd.Port)
	var members []string
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("f%02d", i)
		members = append(members, name)
		fmt.Fprintf(&w, "[node %s]\nbundle = .conc-bundle-%d\nlocal_bundle = %s\n\n", name, i, filepath.Join(b.dir, "fleet-local", name))
	}
	fmt.Fprintf(&w, "[group fleet1]\nnodes = %s\n\n[group fleet%d]\nnodes = %s\n\n", members[0], n, strings.Join(members, " "))
	fmt.Fprintf(&w, fleetPlan, filepath.Join(b.dir, "fleet-rendered"))
	ini := filepath.Join(b.dir, "fleet.ini")
	if err := os.WriteFile(ini, []byte(w.String()), 0o600); err != nil {
		b.t.Fatal(err)
	}

	par := min(max(*fleetPar, 1), n)
	wall1, cpu1 := b.fleetMedian(ini, "fleet1", 1, 1, n)
	walln, cpun := b.fleetMedian(ini, fmt.Sprintf("fleet%d", n), n, par, n)
	per1, pern := cpu1, cpun/time.Duration(n)
	extra := (cpun - cpu1) / time.Duration(n-1)
	nodes := fmt.Sprintf("%d nodes", n)
	b.notes = append(b.notes, fmt.Sprintf("fleet, 10 jobs a node: conc's CPU per node %s on 1 node, %s on %d nodes (%.2fx; %s per added node); wall %s and %s (--parallel %d).",
		per1.Round(10*time.Microsecond), pern.Round(10*time.Microsecond), n, float64(pern)/float64(per1), extra.Round(10*time.Microsecond),
		wall1.Round(time.Millisecond), walln.Round(time.Millisecond), par))
	return []Figure{
		{Name: "fleet 10 jobs, wall, 1 node", Conc: seconds(wall1), Unit: "s", Target: "-", Holds: true,
			Note: "conc deploy of the 10-job plan to 1 node, as a whole process"},
		{Name: "fleet 10 jobs, wall, " + nodes, Conc: seconds(walln), Baseline: seconds(wall1), Unit: "s", BaseName: "wall, 1 node", Ratio: float64(walln) / float64(wall1), Target: "-", Holds: true,
			Note: fmt.Sprintf("the same plan on %d nodes of one loopback sshd, --parallel %d; bounded by the node side", n, par)},
		{Name: "fleet conc CPU per node, 1 node", Conc: seconds(per1), Unit: "s", Target: "-", Holds: true,
			Note: "user+sys of the conc process (its rusage), start-up included"},
		{Name: "fleet conc CPU per node, " + nodes, Conc: seconds(pern), Baseline: seconds(per1), Unit: "s", BaseName: "CPU per node, 1 node", Ratio: float64(pern) / float64(per1), Target: "-", Holds: true,
			Note: fmt.Sprintf("user+sys of the conc process over %d nodes, divided by %d; the ratio is CPU per node (%d) / CPU per node (1)", n, n, n)},
		{Name: "fleet conc CPU per added node", Conc: seconds(extra), Baseline: seconds(per1), Unit: "s", BaseName: "CPU per node, 1 node", Ratio: float64(extra) / float64(per1), Target: "-", Holds: true,
			Note: fmt.Sprintf("(CPU of %d nodes - CPU of 1 node) / %d: the cost of one more node, without conc's start-up", n, n-1)},
	}
}

// fleetMedian runs the fleet plan on group (of nodes nodes, par at once)
// reps times after a warm-up and returns the medians of the wall time and of
// conc's CPU.
func (b *bench) fleetMedian(ini, group string, nodes, par, all int) (wall, cpu time.Duration) {
	b.fleetRun(ini, group, nodes, par, all)
	var walls, cpus []time.Duration
	for range b.reps {
		w, c := b.fleetRun(ini, group, nodes, par, all)
		walls, cpus = append(walls, w), append(cpus, c)
	}
	return medianOf(walls), medianOf(cpus)
}

// fleetRun deploys the fleet plan to group once, as a child process, and
// returns its wall time and its user+sys CPU time. It fails the benchmark
// unless conc exits 0, every job printed an OK line and no node's bundle
// (of all the fleet's nodes) is left behind.
func (b *bench) fleetRun(ini, group string, nodes, par, all int) (wall, cpu time.Duration) {
	args := []string{"-f", ini, "deploy", group, "--parallel", fmt.Sprint(par)}
	cmd := exec.Command(*concBin, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	wall = time.Since(start)
	if err != nil {
		hint := ""
		if par > 10 && strings.Contains(out.String(), "handshake failed") {
			hint = " (sshd's MaxStartups, set in internal/testnode, drops connections past 100 unauthenticated ones)"
		}
		b.t.Fatalf("conc %v: %v%s\n%s", args, err, hint, out.String())
	}
	// The rusage of a waited-for child is its own (and its waited-for
	// children's; conc forks none for this plan). CPU times, unlike the
	// peak RSS, owe nothing to the pages it shared with this process
	// before its exec.
	cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	ok := 0
	for _, line := range strings.Split(out.String(), "\n") {
		// A job line starts with its time; the recap's rows do not.
		if f := strings.Fields(line); len(f) > 1 && f[1] == "OK" && strings.Count(f[0], ":") == 2 {
			ok++
		}
	}
	if ok != nodes*fleetJobs {
		b.t.Fatalf("conc %v: %d OK jobs, want %d\n%s", args, ok, nodes*fleetJobs, out.String())
	}
	for i := 1; i <= all; i++ {
		if _, err := os.Lstat(filepath.Join(b.node.Home, fmt.Sprintf(".conc-bundle-%d", i))); !os.IsNotExist(err) {
			b.t.Fatalf("conc %v exited 0 and left the bundle .conc-bundle-%d (%v)\n%s", args, i, err, out.String())
		}
	}
	return wall, cpu
}

func medianOf(ds []time.Duration) time.Duration {
	ds = append([]time.Duration(nil), ds...)
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[len(ds)/2]
}
