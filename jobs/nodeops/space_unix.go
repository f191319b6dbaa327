//go:build linux || darwin

package nodeops

import "syscall"

// freeSpace is the space an unprivileged user may still write in the file
// system of dir, and the file system's size.
func freeSpace(dir string) (free, total int64, ok bool) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, 0, false
	}
	return int64(st.Bavail) * int64(st.Bsize), int64(st.Blocks) * int64(st.Bsize), true
}
