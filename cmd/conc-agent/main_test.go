package main

import (
	"os"
	"os/exec"
	"testing"

	"github.com/concdeploy/conc/channel"
)

// The test binary doubles as the agent when asked, so the benchmark runs
// the real main over real pipes, as sshd would start it.
func TestMain(m *testing.M) {
	if os.Getenv("CONC_AGENT_TEST_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

type pipes struct {
	in  *os.File
	out *os.File
}

func (p pipes) Read(b []byte) (int, error)  { return p.out.Read(b) }
func (p pipes) Write(b []byte) (int, error) { return p.in.Write(b) }
func (p pipes) Close() error                { p.in.Close(); return p.out.Close() }

// BenchmarkPingProcess measures a ping through the agent process over
// pipes: the agent's share of a remote job's round trip, without SSH.
func BenchmarkPingProcess(b *testing.B) {
	home := b.TempDir()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "CONC_AGENT_TEST_MAIN=1", "HOME="+home)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer cmd.Wait()
	c := channel.New(pipes{in: stdin.(*os.File), out: stdout.(*os.File)})
	defer c.Close()
	hello := &channel.Message{Type: channel.THello, Hello: &channel.Hello{
		Version: channel.Version, Node: "n", Bundle: ".conc-bundle", LockMode: channel.LockOpen,
		Lock: &channel.Record{DeployID: "d"},
	}}
	if err := c.Send(hello); err != nil {
		b.Fatal(err)
	}
	if m, err := c.Recv(); err != nil || m.Ready.Status != "OK" {
		b.Fatalf("ready: %v %v", m, err)
	}
	run := &channel.Message{Type: channel.TRun, Run: &channel.Run{Op: "ping"}}
	for i := 0; b.Loop(); i++ {
		run.Run.ID = uint32(i + 1)
		if err := c.Send(run); err != nil {
			b.Fatal(err)
		}
		if _, err := c.Recv(); err != nil {
			b.Fatal(err)
		}
	}
}
