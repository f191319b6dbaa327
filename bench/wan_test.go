//go:build bench

package bench

import (
	"crypto/rand"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/concdeploy/conc/internal/sshtest"
	"github.com/concdeploy/conc/internal/testnode"
)

var (
	wanDelay = flag.Duration("wan-delay", 25*time.Millisecond, "one-way delay the WAN figures' proxy adds")
	wanRate  = flag.Int64("wan-rate", 100_000_000, "the WAN copy figures' bandwidth limit, bits per second (0: none)")
)

// proxy is a TCP proxy on loopback in front of the benchmark's sshd that
// delays every byte by a one-way delay in each direction and, when rate is
// set, lets bytes through no faster than rate bits a second: a link with
// a round trip of twice the delay. Both ends of every WAN comparison go
// through the same proxy in the same run.
type proxy struct {
	ln     net.Listener
	target string
	delay  time.Duration
	mu     sync.Mutex
	rate   int64 // bits per second; 0 for no limit
	wg     sync.WaitGroup
}

func startProxy(target string, delay time.Duration) (*proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &proxy{ln: ln, target: target, delay: delay}
	p.wg.Add(1)
	go p.serve()
	return p, nil
}

// setRate limits the bandwidth of connections made from now on.
func (p *proxy) setRate(bps int64) {
	p.mu.Lock()
	p.rate = bps
	p.mu.Unlock()
}

func (p *proxy) port() int { return p.ln.Addr().(*net.TCPAddr).Port }

func (p *proxy) close() { p.ln.Close(); p.wg.Wait() }

func (p *proxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		rate := p.rate
		p.mu.Unlock()
		go p.pump(s, c, rate)
		go p.pump(c, s, rate)
	}
}

type chunk struct {
	at time.Time
	b  []byte
}

// pump copies src to dst, each chunk written delay after it was read; with
// a rate, a chunk also waits for the link to be free of the chunks before
// it, as on a link of that bandwidth.
func (p *proxy) pump(dst, src net.Conn, rate int64) {
	ch := make(chan chunk, 256)
	go func() {
		defer close(ch)
		for {
			buf := make([]byte, 16<<10)
			n, err := src.Read(buf)
			if n > 0 {
				ch <- chunk{at: time.Now(), b: buf[:n]}
			}
			if err != nil {
				return
			}
		}
	}()
	var free time.Time // when the link has sent what came before
	for c := range ch {
		due := c.at.Add(p.delay)
		if rate > 0 {
			start := c.at
			if free.After(start) {
				start = free
			}
			free = start.Add(time.Duration(int64(len(c.b)) * 8 * int64(time.Second) / rate))
			due = free.Add(p.delay)
		}
		time.Sleep(time.Until(due))
		if _, err := dst.Write(c.b); err != nil {
			break
		}
	}
	if tc, ok := dst.(*net.TCPConn); ok {
		tc.CloseWrite()
	}
	for range ch {
	}
	src.Close()
}

// wan is the figures taken through the proxy: the first job and a run of
// twenty remote jobs against one ssh node true, and a first deploy and a
// re-deploy of a 200-file bundle against scp and rsync, at wanRate.
func (b *bench) wan() []Figure {
	px, err := startProxy(b.node.Addr(), *wanDelay)
	if err != nil {
		b.t.Fatal(err)
	}
	defer px.close()
	via := *b.node
	via.Port = px.port()
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
func (b *bench) wanCopy(px *proxy, via *testnode.Node, ini string) []Figure {
	if _, err := exec.LookPath("rsync"); err != nil {
		b.notes = append(b.notes, "WAN re-deploy figure skipped: rsync is not installed (apt-get install rsync)")
		return nil
	}
	px.setRate(*wanRate)
	defer px.setRate(0)
	src := filepath.Join(b.dir, "release")
	os.MkdirAll(src, 0o755)
	buf := make([]byte, 512<<10)
	for i := range 200 {
		rand.Read(buf)
		os.WriteFile(filepath.Join(src, fmt.Sprintf("f%03d.bin", i)), buf, 0o644)
	}
	sshCmd := "ssh " + strings.Join(append([]string{"-F", "/dev/null"}, via.SSHOptions()...), " ")
	dest := via.User + "@" + via.Host + ":"
	first := b.median(func() time.Duration { return b.concCopy(ini, "release-copy") })
	scp := b.median(func() time.Duration {
		os.RemoveAll(filepath.Join(b.node.Home, "scp-release"))
		return b.timeCmd("scp", append(append(append([]string{"-F", "/dev/null", "-q"}, via.SSHOptions()...), "-r", src), dest+"scp-release")...)
	})
	// The change: one file of 1 MiB replaces one of 512 KiB.
	changed := filepath.Join(src, "f007.bin")
	big := make([]byte, 1<<20)
	rand.Read(big)
	os.WriteFile(changed, big, 0o644)
	redeploy := b.median(func() time.Duration { return b.concCopy(ini, "release-copy") })
	last := filepath.Join(b.node.Home, "rsync-release")
	rsync := b.median(func() time.Duration {
		// Last release's directory, as the node has it, then the change.
		os.RemoveAll(last)
		if err := exec.Command("cp", "-a", src, last).Run(); err != nil {
			b.t.Fatal(err)
		}
		os.WriteFile(filepath.Join(last, "f007.bin"), buf, 0o644)
		return b.timeCmd("rsync", "-a", "-e", sshCmd, src+"/", dest+"rsync-release/")
	})
	return []Figure{
		{Name: "WAN first deploy, 200 files, 100 MiB", Conc: first.Seconds(), Baseline: scp.Seconds(), Unit: "s", BaseName: "scp -r (same link)",
			Ratio: scp.Seconds() / first.Seconds(), Target: ">= 0.90", Holds: scp.Seconds()/first.Seconds() >= 0.9,
			Note: "the ratio is scp's time over conc's: throughput"},
		ratio("WAN re-deploy, 1 of 200 files changed", redeploy, rsync, "rsync -a of the change", "<= 1.10", 1.1, false),
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
