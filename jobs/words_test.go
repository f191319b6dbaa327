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
		{"run \xff\xfe 'a\xffb'", []string{"run", "\xff\xfe", "a\xffb"}, ""},
		{`run "\é"`, []string{"run", `\é`}, ""},
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
	for _, s := range []string{"plain", "", "a b", "it's", `"$HOME"`, "x;rm -rf /", "tab\there", "new\nline", "\xff", "é\x00"} {
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

// FuzzSplit splits arbitrary lines: never a panic, and the words of a line
// that splits, quoted with QuoteAll, split back into the same words. A line
// without quotes or backslashes splits as strings.Fields would on blanks.
func FuzzSplit(f *testing.F) {
	for _, s := range []string{"remote run echo hi", `run "a \"b\" \$c \x"`, `run 'it'\''s'`, `run a\ b ""`, "run \xff 'x", `run abc\`, "\t\n "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		words, err := Split(line)
		if err != nil {
			return
		}
		quoted := QuoteAll(words)
		again, err := Split(quoted)
		if err != nil || !equalWords(again, words) {
			t.Fatalf("Split(%q) = %q, quoted %q, which splits to %q, %v", line, words, quoted, again, err)
		}
		if !strings.ContainsAny(line, `'"\`) {
			blank := func(r rune) bool { return r == ' ' || r == '\t' || r == '\n' }
			if want := strings.FieldsFunc(line, blank); !equalWords(words, want) {
				t.Fatalf("Split(%q) = %q, want %q", line, words, want)
			}
		}
	})
}

// equalWords compares word lists, nil and empty alike.
func equalWords(a, b []string) bool {
	return len(a) == len(b) && (len(a) == 0 || reflect.DeepEqual(a, b))
}

// TestWorse: the status that decides the exit code wins; a tie keeps the
// first.
func TestWorse(t *testing.T) {
	for _, tt := range []struct{ a, b, want Status }{
		{OK, Blocked, Blocked},
		{Blocked, Failed, Failed},
		{Failed, Blocked, Failed},
		{Stopped, OK, Stopped},
		{Error, Failed, Error},
	} {
		if got := Worse(tt.a, tt.b); got != tt.want {
			t.Errorf("Worse(%s, %s) = %s, want %s", tt.a, tt.b, got, tt.want)
		}
	}
}
