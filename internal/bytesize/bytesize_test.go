package bytesize

import "testing"

func TestParse(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true},
		{"512", 512, true},
		{"500M", 500 << 20, true},
		{"1g", 1 << 30, true},
		{"1GiB", 1 << 30, true},
		{"2 KiB", 2 << 10, true},
		{"3T", 3 << 40, true},
		{"", 0, false},
		{"-1", 0, false},
		{"1.5G", 0, false},
		{"G", 0, false},
		{"9999999999T", 0, false},
		{"10X", 0, false},
	} {
		got, err := Parse(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("Parse(%q) = %d, %v; want %d, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestFormat(t *testing.T) {
	for in, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1536: "1.5 KiB", 3 << 20: "3.0 MiB", 1 << 30: "1.0 GiB"} {
		if got := Format(in); got != want {
			t.Errorf("Format(%d) = %q, want %q", in, got, want)
		}
	}
}
