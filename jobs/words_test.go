package jobs

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestSplit(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr string
	}{
		{"remote run echo hi", []string{"remote", "run", "echo", "hi"}, ""},
		{"  a\t b  ", []string{"a", "b"}, ""},
		{`run "echo a  b" c`, []string{"run", "echo a  b", "c"}, ""},
		{`run 'it''s'`, []string{"run", "its"}, ""},
		{`run 'a "b" $c'`, []string{"run", `a "b" $c`}, ""},
		{`run "a \"b\" \$c \x"`, []string{"run", `a "b" $c \x`}, ""},
		{`run a\ b`, []string{"run", "a b"}, ""},
		{`run ""`, []string{"run", ""}, ""},
		{`run "abc`, nil, "unterminated"},
		{`run abc\`, nil, "backslash"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := Split(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Split(%q) error = %v, want one containing %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Split(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestQuoteRoundTrip(t *testing.T) {
	for _, s := range []string{"plain", "", "a b", "it's", `"$HOME"`, "x;rm -rf /", "tab\there", "new\nline"} {
		words, err := Split("x " + Quote(s))
		if err != nil || len(words) != 2 || words[1] != s {
			t.Errorf("Split(Quote(%q)) = %q, %v", s, words, err)
		}
	}
}

func TestParseStep(t *testing.T) {
	tests := []struct {
		line    string
		def     time.Duration
		want    Job
		wantErr string
	}{
		{"remote ping", 0, Job{Host: Remote, Op: "ping", Args: []string{}}, ""},
		{"local put a b", time.Minute, Job{Host: Local, Op: "put", Args: []string{"a", "b"}, Timeout: time.Minute}, ""},
		{"remote pip_install --timeout=5m app.whl", 0, Job{Host: Remote, Op: "pip_install", Args: []string{"app.whl"}, Timeout: 5 * time.Minute}, ""},
		{"remote run --timeout 2s sleep 9", 0, Job{Host: Remote, Op: "run", Args: []string{"sleep", "9"}, Timeout: 2 * time.Second}, ""},
		{"elsewhere run x", 0, Job{}, "neither local nor remote"},
		{"remote", 0, Job{}, "HOST OP"},
		{"remote run --timeout=soon x", 0, Job{}, "duration"},
		{"remote run --timeout", 0, Job{}, "needs a value"},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			got, err := ParseStep(tt.line, tt.def)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseStep(%q) error = %v, want %q", tt.line, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Host != tt.want.Host || got.Op != tt.want.Op || got.Timeout != tt.want.Timeout || !reflect.DeepEqual(got.Args, tt.want.Args) {
				t.Errorf("ParseStep(%q) = %+v, want %+v", tt.line, got, tt.want)
			}
		})
	}
}
