package jobs

import (
	"fmt"
	"testing"
)

func TestUnescapeMount(t *testing.T) {
	for in, want := range map[string]string{
		`/mnt/plain`:            `/mnt/plain`,
		`/mnt/my\040bundle`:     `/mnt/my bundle`,
		`/mnt/tab\011and\012nl`: "/mnt/tab\tand\nnl",
		`/mnt/back\134slash`:    `/mnt/back\slash`,
		`/mnt/end\040`:          `/mnt/end `,
		`/mnt/short\04`:         `/mnt/short\04`,
		`/mnt/not\8octal`:       `/mnt/not\8octal`,
		`/mnt/too\777big`:       `/mnt/too\777big`,
		`/mnt/\101\102\103`:     `/mnt/ABC`,
		`\`:                     `\`,
		`/mnt/two\\040`:         `/mnt/two\ `,
	} {
		if got := unescapeMount(in); got != want {
			t.Errorf("unescapeMount(%q) = %q, want %q", in, got, want)
		}
	}
}

// unescapeMount once read an escape with fmt.Sscanf("%03o"); it reads
// every escape the kernel writes (a backslash and three octal digits) as
// that did.
func TestUnescapeMountLikeSscanf(t *testing.T) {
	for v := 0; v < 0o1000; v++ {
		esc := fmt.Sprintf(`%03o`, v)
		var b byte
		_, err := fmt.Sscanf(esc, "%03o", &b)
		want := `\` + esc
		if err == nil {
			want = string([]byte{b})
		}
		if got := unescapeMount(`\` + esc + "x"); got != want+"x" {
			t.Errorf("unescapeMount(%q) = %q, want %q", `\`+esc+"x", got, want+"x")
		}
	}
}
