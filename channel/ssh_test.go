package channel

import (
	"errors"
	"io"
	"testing"

	"github.com/concdeploy/conc/internal/testnode"
	"golang.org/x/crypto/ssh"
)

// catStream is an SSH exec of cat: what one end writes comes back to it,
// through a real SSH session.
type catStream struct {
	sess *ssh.Session
	in   io.WriteCloser
	out  io.Reader
}

func (c *catStream) Read(p []byte) (int, error)  { return c.out.Read(p) }
func (c *catStream) Write(p []byte) (int, error) { return c.in.Write(p) }
func (c *catStream) Close() error                { c.in.Close(); return c.sess.Close() }

func catSession(t *testing.T, n *testnode.Node) *catStream {
	t.Helper()
	sess, err := n.Dial(t).NewSession()
	if err != nil {
		t.Fatal(err)
	}
	in, _ := sess.StdinPipe()
	out, _ := sess.StdoutPipe()
	if err := sess.Start("cat"); err != nil {
		t.Fatal(err)
	}
	c := &catStream{sess: sess, in: in, out: out}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestOverSSH sends messages and bad frames through a real SSH session and
// reads them back.
func TestOverSSH(t *testing.T) {
	testnode.Both(t, func(t *testing.T, n *testnode.Node) {
		t.Run("round trip", func(t *testing.T) {
			c := New(catSession(t, n))
			big := make([]byte, 1<<20)
			for i := range big {
				big[i] = byte(i)
			}
			m := &Message{Type: TOutput, Output: &Output{ID: 9, Data: big}}
			go c.Send(m)
			got, err := c.Recv()
			if err != nil || got.Output.ID != 9 || len(got.Output.Data) != len(big) || got.Output.Data[12345] != big[12345] {
				t.Fatalf("Recv = %v, %v", got, err)
			}
		})
		frames := []struct {
			name    string
			raw     []byte
			close   bool
			wantErr error
		}{
			{"truncated", []byte{0, 0, 0, 9, 0x81, 0xa1}, true, io.ErrUnexpectedEOF},
			{"oversized", []byte{0x01, 0x00, 0x00, 0x01}, false, ErrFrameTooLarge},
			{"unknown type", frameOf(t, map[string]any{"t": "launch", "launch": map[string]any{}}), false, ErrUnknownType},
		}
		for _, f := range frames {
			t.Run(f.name, func(t *testing.T) {
				s := catSession(t, n)
				c := New(s)
				if _, err := s.Write(f.raw); err != nil {
					t.Fatal(err)
				}
				if f.close {
					s.in.Close()
				}
				_, err := c.Recv()
				if !errors.Is(err, f.wantErr) {
					t.Fatalf("Recv = %v, want %v", err, f.wantErr)
				}
			})
		}
	})
}

// frameOf encodes v as msgpack in a frame.
func frameOf(t *testing.T, v any) []byte {
	b := encode(t, v)
	return append([]byte{0, 0, 0, byte(len(b))}, b...)
}
