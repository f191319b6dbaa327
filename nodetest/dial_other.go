//go:build !linux

package nodetest

import (
	"net"
	"net/netip"
)

// connectTCP connects to ap. The agent runs on Linux (dial_linux.go);
// elsewhere, net's dialer does.
func connectTCP(ap netip.AddrPort) (conn, error) {
	c, err := net.DialTCP("tcp", nil, net.TCPAddrFromAddrPort(ap))
	if err != nil {
		return nil, err
	}
	return c, nil
}
