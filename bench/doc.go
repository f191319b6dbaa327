// Package bench measures conc against the floor it stands on: a raw SSH
// round trip, one OpenSSH `ssh node true`, and `scp`, all taken in the same
// run against the same loopback sshd, so that every figure is a ratio that
// holds on any machine. It runs with make bench (go test -tags bench), never
// in make test.
package bench
