//go:build bench

package bench

import (
	"crypto/rand"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/concdeploy/conc/internal/sshtest"
	"github.com/concdeploy/conc/internal/testnode"
	"github.com/concdeploy/conc/internal/wanproxy"
)

var (
	wanDelay = flag.Duration("wan-delay", 25*time.Millisecond, "one-way delay the WAN figures' proxy adds")
	wanRate  = flag.Int64("wan-rate", 100_000_000, "the WAN copy figures' bandwidth limit, bits per second (0: none)")
)

// wan is the figures taken through the proxy: the first job and a run of
// twenty remote jobs against one ssh node true, and a first deploy and a
// re-deploy of a 200-file bundle against scp and rsync, at wanRate.
func (b *bench) wan() []Figure {
	px, err := wanproxy.Start(b.node.Addr(), *wanDelay)
	if err != nil {
		b.t.Fatal(err)
	}
	defer px.Close()
	via := *b.node
	via.Port = px.Port()
	via.KnownHosts = filepath.Join(b.dir, "known_hosts_proxy")
	if err := sshtest.WriteKnownHosts(via.KnownHosts, via.Addr(), via.HostKey); err != nil {
		b.t.Fatal(err)
	}
	ini := b.wanIni(&via)
	rtt := fmt.Sprintf("%s round trip", 2**wanDelay)
	sshTrue := b.median(func() time.Duration {
		return b.timeCmd("ssh", append(append([]string{"-F", "/dev/null"}, via.SSHOptions()...), via.User+"@"+via.Host, "true")...)
	})
	concRun := func(plan string) time.Duration {
		return b.median(func() time.Duration { return b.timeCmd(*concBin, "-f", ini, "run", plan, "node") })
	}
	b.timeCmd(*concBin, "-f", ini, "run", "first", "node") // the agent is cached already; this warms the stamp
	figs := []Figure{
		ratio("WAN ("+rtt+"): open_bundle, ping, close_bundle", concRun("first"), sshTrue, "ssh node true (same link)", "<= 1.00", 1.0, false),
		ratio("WAN ("+rtt+"): open_bundle, 20 run, close_bundle", concRun("run20"), sshTrue, "ssh node true (same link)", "<= 1.30", 1.3, false),
	}
	figs = append(figs, b.wanCopy(px, &via, ini)...)
	limit := "with no bandwidth limit"
	if *wanRate > 0 {
		limit = fmt.Sprintf("limited to %d Mbit/s for the copy figures", *wanRate/1_000_000)
	}
	b.notes = append(b.notes, fmt.Sprintf("WAN figures: through a TCP proxy on loopback that adds %s each way (ssh node true took %s through it), %s.",
		*wanDelay, sshTrue.Round(time.Millisecond), limit))
	return figs
}

// wanCopy is the re-deploy figures: a 100 MiB bundle of 200 files copied
// whole by copy_product against scp -r, and the same with one 1 MiB file
// changed against rsync -a of that change into the last release.
func (b *bench) wanCopy(px *wanproxy.Proxy, via *testnode.Node, ini string) []Figure {
	if _, err := exec.LookPath("rsync"); err != nil {
		b.notes = append(b.notes, "WAN re-deploy figure skipped: rsync is not installed (apt-get install rsync)")
		return nil
	}
	px.SetRate(*wanRate)
	defer px.SetRate(0)
	src := filepath.Join(b.dir, "release")
	os.MkdirAll(src, 0o755)
	buf := make([]byte, 512<<10)
	for i := range 200 {
		rand.Read(buf)
		os.WriteFile(filepath.Join(src, fmt.Sprintf("f%03d.bin", i)), buf, 0o644)
	}
	sshCmd := "ssh " + strings.Join(append([]string{"-F", "/dev/null"}, via.SSHOptions()...), " ")
	dest := via.User + "@" + via.Host + ":"
	prune := func() { b.timeCmd(*concBin, "-f", ini, "cache", "node", "--prune") }
	first := b.median(func() time.Duration {
		prune() // a first deploy each time: the node's store starts empty
		return b.concCopy(ini, "release-copy")
	})
	prune()
	before := px.Sent()
	b.concCopy(ini, "release-copy")
	firstBytes := px.Sent() - before
	scp := b.median(func() time.Duration {
		os.RemoveAll(filepath.Join(b.node.Home, "scp-release"))
		return b.timeCmd("scp", append(append(append([]string{"-F", "/dev/null", "-q"}, via.SSHOptions()...), "-r", src), dest+"scp-release")...)
	})
	// The change: one file of 1 MiB replaces one of 512 KiB, new at each
	// re-deploy, so that each sends it; the store holds the rest.
	changed := filepath.Join(src, "f007.bin")
	big := make([]byte, 1<<20)
	change := func() {
		rand.Read(big)
		os.WriteFile(changed, big, 0o644)
	}
	redeploy := b.median(func() time.Duration {
		change()
		return b.concCopy(ini, "release-copy")
	})
	change()
	before = px.Sent()
	b.concCopy(ini, "release-copy")
	redeployBytes := px.Sent() - before
	last := filepath.Join(b.node.Home, "rsync-release")
	rsync := b.median(func() time.Duration {
		// Last release's directory, as the node has it, then the change.
		os.RemoveAll(last)
		if err := exec.Command("cp", "-a", src, last).Run(); err != nil {
			b.t.Fatal(err)
		}
		os.WriteFile(filepath.Join(last, "f007.bin"), buf, 0o644)
		change()
		return b.timeCmd("rsync", "-a", "-e", sshCmd, src+"/", dest+"rsync-release/")
	})
	share := float64(redeployBytes) / float64(firstBytes)
	b.notes = append(b.notes, fmt.Sprintf("WAN bytes to the node: first deploy %d, re-deploy %d (%.1f%%).", firstBytes, redeployBytes, 100*share))
	return []Figure{
		{Name: "WAN first deploy, 200 files, 100 MiB", Conc: first.Seconds(), Baseline: scp.Seconds(), Unit: "s", BaseName: "scp -r (same link)",
			Ratio: scp.Seconds() / first.Seconds(), Target: ">= 0.90", Holds: scp.Seconds()/first.Seconds() >= 0.9,
			Note: "the ratio is scp's time over conc's: throughput"},
		ratio("WAN re-deploy, 1 of 200 files changed", redeploy, rsync, "rsync -a of the change", "<= 1.10", 1.1, false),
		{Name: "WAN re-deploy bytes, 1 of 200 files changed", Conc: float64(redeployBytes), Baseline: float64(firstBytes), Unit: "B",
			BaseName: "the first deploy's bytes", Ratio: share, Target: "<= 0.05", Holds: share <= 0.05},
	}
}

// concCopy runs a plan that copies the release into a new bundle, and
// times the whole run, as scp and rsync are timed: connecting included.
func (b *bench) concCopy(ini, plan string) time.Duration {
	return b.timeCmd(*concBin, "-f", ini, "run", plan, "node")
}

// wanIni writes the deploy file of the WAN figures: the node through the
// proxy.
func (b *bench) wanIni(via *testnode.Node) string {
	var runs strings.Builder
	for range 20 {
		runs.WriteString("step = remote run true\n")
	}
	ini := nodeIni(via, ".conc-wan", filepath.Join(b.dir, "local-wan")) + fmt.Sprintf(`[plan first]
step = remote open_bundle
step = remote ping
step = remote close_bundle

[plan run20]
step = remote open_bundle
%sstep = remote close_bundle

[plan release-copy]
step = remote open_bundle
step = local copy_product release
step = remote close_bundle
`, runs.String())
	path := filepath.Join(b.dir, "wan.ini")
	if err := os.WriteFile(path, []byte(ini), 0o600); err != nil {
		b.t.Fatal(err)
	}
	return path
}
