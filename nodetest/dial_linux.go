package nodetest

import (
	"net"
	"net/netip"
	"os"
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"
)

// connectTCP connects to ap with the calls net.DialTCP makes (a
// non-blocking socket, connect, a wait on the runtime's poller, SO_ERROR)
// and returns the socket as an *os.File on that poller, which reads,
// writes, closes and keeps deadlines as a net.Conn does. It fails with the
// *net.OpError net.DialTCP would return. It is not net.DialTCP because the
// agent, whose binary has a budget of 4 MiB (docs/performance.md), would
// link some 90 KiB more with it: address family probing, the interface
// table read for IPv6 zones, keep-alive, splice and sendfile, none of which
// a check's one connection needs.
func connectTCP(ap netip.AddrPort) (conn, error) {
	fail := func(call string, err error) error {
		return &net.OpError{Op: "dial", Net: "tcp", Addr: net.TCPAddrFromAddrPort(ap), Err: os.NewSyscallError(call, err)}
	}
	addr := ap.Addr()
	// As net does: an IPv4 address, mapped into IPv6 or not, is dialled
	// over IPv4.
	var sa unix.Sockaddr
	family := unix.AF_INET6
	if addr.Is4() || addr.Is4In6() {
		family = unix.AF_INET
		sa = &unix.SockaddrInet4{Port: int(ap.Port()), Addr: addr.Unmap().As4()}
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
	if err != nil {
		return nil, fail("socket", err)
	}
	if family == unix.AF_INET6 {
		sa = &unix.SockaddrInet6{Port: int(ap.Port()), Addr: addr.As16(), ZoneId: zoneIndex(fd, addr.Zone())}
	}
	// net's TCP connections send each write at once; so does this one.
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1); err != nil {
		unix.Close(fd)
		return nil, fail("setsockopt", err)
	}
	switch err := unix.Connect(fd, sa); err {
	case nil, unix.EISCONN:
		return os.NewFile(uintptr(fd), "tcp "+ap.String()), nil
	case unix.EINPROGRESS, unix.EALREADY, unix.EINTR:
	default:
		unix.Close(fd)
		return nil, fail("connect", err)
	}
	// The descriptor is non-blocking, so the File is on the poller.
	f := os.NewFile(uintptr(fd), "tcp "+ap.String())
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, fail("connect", err)
	}
	var cerr error
	// Write waits until the socket is writable whenever the function
	// returns false. Once it is, SO_ERROR says how the connect went; the
	// poller may wake spuriously, so a connection is taken only once the
	// socket has a peer.
	werr := rc.Write(func(s uintptr) bool {
		n, err := unix.GetsockoptInt(int(s), unix.SOL_SOCKET, unix.SO_ERROR)
		if err != nil {
			cerr = fail("getsockopt", err)
			return true
		}
		switch e := unix.Errno(n); e {
		case unix.EINPROGRESS, unix.EALREADY, unix.EINTR:
			return false
		case unix.EISCONN:
			return true
		case 0:
			return connected(s)
		default:
			cerr = fail("connect", e)
			return true
		}
	})
	if cerr == nil && werr != nil {
		cerr = fail("connect", werr)
	}
	if cerr != nil {
		f.Close()
		return nil, cerr
	}
	return f, nil
}

// zoneIndex is the index of an IPv6 zone: an interface's name or its
// index in decimal, as net reads it.
func zoneIndex(fd int, zone string) uint32 {
	if zone == "" {
		return 0
	}
	if ifr, err := unix.NewIfreq(zone); err == nil && unix.IoctlIfreq(fd, unix.SIOCGIFINDEX, ifr) == nil {
		return ifr.Uint32()
	}
	n, _ := strconv.ParseUint(zone, 10, 32)
	return uint32(n)
}

// connected reports whether the socket s has a peer: getpeername, without
// converting the address (unix.Getpeername would link every address
// family's type).
func connected(s uintptr) bool {
	var rsa unix.RawSockaddrAny
	n := uint32(unix.SizeofSockaddrAny)
	_, _, e := unix.Syscall(unix.SYS_GETPEERNAME, s, uintptr(unsafe.Pointer(&rsa)), uintptr(unsafe.Pointer(&n)))
	return e == 0
}
