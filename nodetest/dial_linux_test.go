package nodetest

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// connectTCP stands in for net.DialTCP on Linux: it must connect, read,
// write, keep deadlines and fail as net.DialTCP does.
func TestConnectTCPLikeNet(t *testing.T) {
	listen := func(t *testing.T, network, addr string) netip.AddrPort {
		t.Helper()
		ln, err := net.Listen(network, addr)
		if err != nil {
			t.Skipf("no %s listener here: %v", network, err)
		}
		t.Cleanup(func() { ln.Close() })
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() { // an echo server
					io.Copy(c, c)
					c.Close()
				}()
			}
		}()
		return ln.Addr().(*net.TCPAddr).AddrPort()
	}
	ap4 := listen(t, "tcp4", "127.0.0.1:0")
	cases := map[string]netip.AddrPort{
		"ipv4":         ap4,
		"ipv4 in ipv6": netip.AddrPortFrom(netip.AddrFrom16(ap4.Addr().As16()), ap4.Port()),
	}
	if ln, err := net.Listen("tcp6", "[::1]:0"); err == nil {
		ln.Close()
		ap6 := listen(t, "tcp6", "[::1]:0")
		cases["ipv6"] = ap6
	}
	for name, ap := range cases {
		t.Run(name, func(t *testing.T) {
			c, err := connectTCP(ap)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			f, ok := c.(*os.File)
			if !ok {
				t.Fatalf("connectTCP returned a %T", c)
			}
			// A job the agent starts must not inherit the socket.
			if fl, err := unix.FcntlInt(f.Fd(), unix.F_GETFD, 0); err != nil || fl&unix.FD_CLOEXEC == 0 {
				t.Errorf("the socket is not close-on-exec (flags %#x, %v)", fl, err)
			}
			if nd, err := unix.GetsockoptInt(int(f.Fd()), unix.IPPROTO_TCP, unix.TCP_NODELAY); err != nil || nd == 0 {
				t.Errorf("TCP_NODELAY is off (%d, %v)", nd, err)
			}
			c.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := c.Write([]byte("ping")); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 4)
			if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping" {
				t.Fatalf("read %q, %v; want the echo", buf, err)
			}
			// The server has nothing more to say: a deadline ends the
			// wait, as it does on a net.Conn.
			c.SetDeadline(time.Now().Add(50 * time.Millisecond))
			start := time.Now()
			if _, err := c.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Errorf("read past the deadline: %v, want %v", err, os.ErrDeadlineExceeded)
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("the deadline took %s", d)
			}
		})
	}

	t.Run("refused", func(t *testing.T) {
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ap := ln.Addr().(*net.TCPAddr).AddrPort()
		ln.Close()
		_, err = connectTCP(ap)
		_, nerr := net.DialTCP("tcp", nil, net.TCPAddrFromAddrPort(ap))
		if err == nil || nerr == nil {
			t.Fatalf("connected to a closed port: %v, %v", err, nerr)
		}
		if err.Error() != nerr.Error() {
			t.Errorf("error %q, want net's %q", err, nerr)
		}
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("error %v is not ECONNREFUSED", err)
		}
	})
}

// An IPv6 zone is an interface's name or index, as net reads it.
func TestZoneIndex(t *testing.T) {
	fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		fd, err = unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	ifs, err := net.Interfaces()
	if err != nil || len(ifs) == 0 {
		t.Skipf("no interfaces: %v", err)
	}
	for _, ifi := range ifs {
		if got := zoneIndex(fd, ifi.Name); got != uint32(ifi.Index) {
			t.Errorf("zone %q: index %d, want %d", ifi.Name, got, ifi.Index)
		}
	}
	for zone, want := range map[string]uint32{"": 0, "7": 7, "no-such-interface": 0} {
		if got := zoneIndex(fd, zone); got != want {
			t.Errorf("zone %q: index %d, want %d", zone, got, want)
		}
	}
}
