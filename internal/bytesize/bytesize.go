// Package bytesize reads and writes sizes in bytes the way an operator
// types and reads them: 500M, 1G, 1 GiB. One parser serves every size conc
// takes (untar's --max-size, the store's limit), so they all read alike.
package bytesize

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Parse reads a size: a whole number of bytes with an optional suffix K,
// M, G or T (KiB, MiB, GiB, TiB also), powers of 1024. Zero is allowed;
// the caller says whether it means anything.
func Parse(s string) (int64, error) {
	t := strings.TrimSpace(s)
	mult := int64(1)
	for i, u := range []string{"K", "M", "G", "T"} {
		if rest, ok := cutSuffixFold(t, u+"iB"); ok {
			t, mult = rest, 1<<(10*(i+1))
			break
		}
		if rest, ok := cutSuffixFold(t, u); ok {
			t, mult = rest, 1<<(10*(i+1))
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(t), 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64/mult {
		return 0, fmt.Errorf("%q is not a size such as 500M or 2G", s)
	}
	return n * mult, nil
}

func cutSuffixFold(s, suffix string) (string, bool) {
	if len(s) > len(suffix) && strings.EqualFold(s[len(s)-len(suffix):], suffix) {
		return s[:len(s)-len(suffix)], true
	}
	return s, false
}

// Format writes n for a person: 395 B, 1.2 KiB, 3.4 MiB.
func Format(n int64) string {
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	f, unit := float64(n)/1024, "KiB"
	for _, u := range []string{"MiB", "GiB", "TiB"} {
		if f < 1024 {
			break
		}
		f, unit = f/1024, u
	}
	return fmt.Sprintf("%.1f %s", f, unit)
}
