package jobs

import (
	"fmt"
	"io"
	"sync"
)

// TailSize is how much of a job's output its result keeps.
const TailSize = 64 << 10

// Tail is an io.Writer that keeps the last TailSize bytes written to it and
// passes everything on to an optional writer. It is safe for concurrent use.
type Tail struct {
	mu    sync.Mutex
	buf   []byte
	total int64
	next  io.Writer
}

// NewTail returns a Tail that also writes to next, which may be nil.
func NewTail(next io.Writer) *Tail { return &Tail{next: next} }

// Write implements io.Writer. An error from the next writer is not
// returned: a slow or broken viewer must not fail the job.
func (t *Tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.total += int64(len(p))
	if len(p) >= TailSize {
		t.buf = append(t.buf[:0], p[len(p)-TailSize:]...)
	} else {
		if over := len(t.buf) + len(p) - TailSize; over > 0 {
			t.buf = append(t.buf[:0], t.buf[over:]...)
		}
		t.buf = append(t.buf, p...)
	}
	if t.next != nil {
		t.next.Write(p)
	}
	return len(p), nil
}

// Bytes returns the kept tail, prefixed with a note when output was dropped.
func (t *Tail) Bytes() []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	if dropped := t.total - int64(len(t.buf)); dropped > 0 {
		return append([]byte(fmt.Sprintf("[... %d bytes before this]\n", dropped)), t.buf...)
	}
	return append([]byte(nil), t.buf...)
}
