package nodeops

import "fmt"

// freeMargin is what untar leaves free on the file system it unpacks into:
// 64 MiB, or a tenth of a small file system, so that a node is never filled
// to the last byte by a deploy.
const freeMargin = 64 << 20

// sizeLimit is how many bytes the archives unpacked into dir may hold:
// the free space there less the margin, and at most maxSize when it is set.
// It says where the limit comes from, for the refusal. 0 is no limit: the
// free space is unknown and no --max-size was given.
func sizeLimit(dir string, maxSize int64) (int64, string) {
	free, total, ok := freeSpace(dir)
	if !ok {
		if maxSize > 0 {
			return maxSize, fmt.Sprintf("--max-size %s", sizeString(maxSize))
		}
		return 0, ""
	}
	margin := min(int64(freeMargin), total/10)
	limit := max(free-margin, 1)
	if maxSize > 0 && maxSize < limit {
		return maxSize, fmt.Sprintf("--max-size %s", sizeString(maxSize))
	}
	return limit, fmt.Sprintf("the free space there, %s, less a margin of %s", sizeString(free), sizeString(margin))
}

// sizeString renders bytes for a person: 1.5 GiB, 300 MiB, 12 KiB, 7 B.
func sizeString(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 3; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGT"[exp])
}
