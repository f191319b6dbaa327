package channel

import (
	"bytes"
	"encoding/hex"
	"io"
	"os"
	"reflect"
	"strings"
	"testing"
)

// specExamples are the messages whose frames spec.md shows byte for byte.
var specExamples = []struct {
	name string
	msg  *Message
}{
	{"hello", &Message{Type: THello, Hello: &Hello{Version: Version, Node: "node1", Bundle: ".conc-bundle", LockMode: LockInspect}}},
	{"ready", &Message{Type: TReady, Ready: &Ready{Version: Version, Agent: "ab12", Arch: "amd64", Home: "/home/deploy", PID: 4242, Status: "OK"}}},
	{"run", &Message{Type: TRun, Run: &Run{ID: 1, Step: 2, Seq: 2, Op: "run", Args: []string{"true"}}}},
	{"result", &Message{Type: TResult, Result: &Result{ID: 1, Status: "OK", Duration: 1500000}}},
	{"fence", &Message{Type: TFence, Fence: &Fence{ID: 2}}},
	{"cancel", &Message{Type: TCancel, Cancel: &Cancel{ID: 1}}},
	{"store", &Message{Type: TStore, Store: &Store{ID: 3, Do: StoreShow}}},
	{"bye", &Message{Type: TBye, Bye: &Bye{Reason: "stopped", Lost: true}}},
}

// specFrames reads the frames shown in spec.md: a block opened by
// "```frame NAME" holds the frame's bytes in hex.
func specFrames(tb testing.TB) map[string][]byte {
	tb.Helper()
	text, err := os.ReadFile("spec.md")
	if err != nil {
		tb.Fatal(err)
	}
	frames := map[string][]byte{}
	var name string
	var hexText strings.Builder
	for line := range strings.Lines(string(text)) {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "```frame "):
			name = strings.TrimPrefix(line, "```frame ")
			hexText.Reset()
		case name != "" && line == "```":
			b, err := hex.DecodeString(strings.ReplaceAll(hexText.String(), " ", ""))
			if err != nil {
				tb.Fatalf("spec.md, frame %s: %v", name, err)
			}
			frames[name] = b
			name = ""
		case name != "":
			hexText.WriteString(line)
		}
	}
	return frames
}

// TestSpecExamples checks spec.md's frames byte for byte, both ways.
func TestSpecExamples(t *testing.T) {
	frames := specFrames(t)
	for _, ex := range specExamples {
		t.Run(ex.name, func(t *testing.T) {
			want, ok := frames[ex.name]
			if !ok {
				t.Fatalf("spec.md shows no frame %s", ex.name)
			}
			got, err := Encode(ex.msg)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("encoded:\n% x\nspec.md:\n% x", got, want)
			}
			m, err := New(readOnly{bytes.NewReader(want)}).Recv()
			if err != nil {
				t.Fatalf("decode spec.md's frame: %v", err)
			}
			if !reflect.DeepEqual(m, ex.msg) {
				t.Errorf("decoded %+v, want %+v", m, ex.msg)
			}
		})
	}
	if len(frames) != len(specExamples) {
		t.Errorf("spec.md shows %d frames, the test knows %d", len(frames), len(specExamples))
	}
}

// readOnly is a stream that can only be read, for decoding a frame.
type readOnly struct{ io.Reader }

func (readOnly) Write(p []byte) (int, error) { return len(p), nil }
func (readOnly) Close() error                { return nil }
