//go:build !linux

package testnode

import "time"

// waitExit does not wait where pidfds are not available.
func waitExit(pid int, timeout time.Duration) error {
	return nil
}
