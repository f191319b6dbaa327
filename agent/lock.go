package agent

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/concdeploy/conc/bundle"
	"github.com/concdeploy/conc/internal/durable"
	"github.com/rs/zerolog"
)

// keeper writes the lock record and the journal of the run an agent
// serves. It writes only through its hold's directory handle, and only
// after the fence check: a run that lost its bundle never writes into
// another run's.
type keeper struct {
	h   *hold
	now func() time.Time
	log zerolog.Logger

	mu       sync.Mutex
	rec      bundle.Lock
	journal  *durable.Appender
	released bool
}

// newKeeper writes the record and opens the journal for appending.
func newKeeper(h *hold, rec bundle.Lock, now func() time.Time, log zerolog.Logger) (*keeper, error) {
	j, err := h.root.OpenFile(bundle.JournalFile, os.O_WRONLY|os.O_APPEND|os.O_CREATE|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open the journal: %w", err)
	}
	rec.Journal = nil
	k := &keeper{h: h, rec: rec, now: now, log: log, journal: durable.NewAppender(j)}
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.writeRecord(); err != nil {
		k.journal.Close()
		return nil, err
	}
	return k, nil
}

// record appends a journal entry. The job that ended calls it after its
// result is sent: one write(2) there costs less than waking another
// goroutine, and the controller's next message is a round trip away.
func (k *keeper) record(e bundle.Entry) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.released {
		return
	}
	if err := k.h.check(); err != nil {
		k.log.Warn().Err(err).Int("step", e.Step).Msg("journal entry not written")
		return
	}
	if err := bundle.AppendEntry(k.journal, e); err != nil {
		k.log.Warn().Err(err).Msg("journal")
	}
}

// writeRecord stores the record durably (internal/durable), inside the
// held directory. The caller holds k.mu.
func (k *keeper) writeRecord() error {
	if err := k.h.check(); err != nil {
		return err
	}
	b, err := k.rec.Marshal()
	if err != nil {
		return err
	}
	if err := durable.WriteFileIn(k.h.root, bundle.LockFile, b, 0o600); err != nil {
		return fmt.Errorf("write the lock record: %w", err)
	}
	return nil
}

// release stops all writes for good: the bundle is about to be removed.
func (k *keeper) release() {
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.released {
		k.released = true
		k.journal.Close()
	}
}

// detach records that no run is attached any more, whatever ended the
// session, and stops all writes. The agent lets go of the kernel lock after
// this, so the record says detached before anyone can see the lock free.
func (k *keeper) detach() {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.released {
		return
	}
	k.rec.Detached = k.now()
	if err := k.writeRecord(); err != nil {
		k.log.Warn().Err(err).Msg("final lock record")
	}
	k.released = true
	k.journal.Close()
}

// readRecord reads a bundle's lock record with its journal folded in.
func readRecord(root *os.Root) (*bundle.Lock, error) {
	b, err := readSmall(root, bundle.LockFile)
	if err != nil {
		return nil, err
	}
	l, err := bundle.ParseLock(b)
	if err != nil {
		return nil, err
	}
	f, err := root.OpenFile(bundle.JournalFile, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if os.IsNotExist(err) {
		return l, nil
	}
	if err != nil {
		return l, fmt.Errorf("read the journal: %w", err)
	}
	defer f.Close()
	entries, err := bundle.ReadJournal(f)
	if err != nil {
		return l, fmt.Errorf("read the journal: %w", err)
	}
	l.Journal = bundle.Fold(entries)
	return l, nil
}

// readSmall reads a file of the bundle that conc wrote, refusing to follow
// a link and to read more than a record can hold.
func readSmall(root *os.Root, name string) ([]byte, error) {
	f, err := root.OpenFile(name, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, 1<<20))
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
