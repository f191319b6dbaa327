package agent

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/concdeploy/conc/bundle"
	"github.com/rs/zerolog"
)

// lockKeeper owns the lock record and the journal in the bundle. Journal
// entries are appended as jobs end, after their results are sent; a
// goroutine of its own rewrites the lock file with a fresh heartbeat on
// every tick.
type lockKeeper struct {
	dir string
	log zerolog.Logger

	mu       sync.Mutex
	rec      bundle.Lock
	released bool
	journal  *os.File

	done chan struct{}
	wg   sync.WaitGroup
}

// newLockKeeper writes the lock record and opens the journal for appending.
func newLockKeeper(dir string, rec bundle.Lock, every time.Duration, log zerolog.Logger) (*lockKeeper, error) {
	j, err := os.OpenFile(filepath.Join(dir, bundle.JournalFile), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open the journal: %w", err)
	}
	rec.Journal = nil
	k := &lockKeeper{
		dir: dir, rec: rec, log: log, journal: j, done: make(chan struct{}),
	}
	if err := k.writeLock(); err != nil {
		j.Close()
		return nil, err
	}
	k.wg.Add(1)
	go k.loop(every)
	return k, nil
}

func (k *lockKeeper) loop(every time.Duration) {
	defer k.wg.Done()
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-k.done:
			return
		case <-tick.C:
			if err := k.writeLock(); err != nil {
				k.log.Warn().Err(err).Msg("heartbeat")
			}
		}
	}
}

// record appends a journal entry. The job that ended calls it after its
// result is sent: one write(2) there costs less than waking another
// goroutine, and the controller's next message is a round trip away.
func (k *lockKeeper) record(e bundle.Entry) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.released {
		return
	}
	if err := bundle.AppendEntry(k.journal, e); err != nil {
		k.log.Warn().Err(err).Msg("journal")
	}
}

// writeLock stores the record atomically, stamped with a fresh heartbeat.
func (k *lockKeeper) writeLock() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.released {
		return nil
	}
	k.rec.Heartbeat = time.Now()
	b, err := k.rec.Marshal()
	if err != nil {
		return err
	}
	path := filepath.Join(k.dir, bundle.LockFile)
	tmp := fmt.Sprintf("%s.tmp-%d", path, os.Getpid())
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("write the lock record: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write the lock record: %w", err)
	}
	return nil
}

// release stops all writes for good: the bundle is about to be removed.
func (k *lockKeeper) release() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.released = true
	k.journal.Close()
}

// close stops the heartbeat and closes the journal.
// The lock file keeps the last heartbeat, which goes stale from now on:
// nobody holds this lock alive any more.
func (k *lockKeeper) close() {
	close(k.done)
	k.wg.Wait()
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.released {
		k.journal.Close()
	}
}

// detach records that the controller ended its session on purpose, so the
// lock shows at once that no run is attached.
func (k *lockKeeper) detach() {
	k.mu.Lock()
	k.rec.Detached = time.Now()
	k.mu.Unlock()
	if err := k.writeLock(); err != nil {
		k.log.Warn().Err(err).Msg("final lock record")
	}
}

// readRecord reads a bundle's lock record with its journal folded in.
func readRecord(dir string) (*bundle.Lock, error) {
	b, err := os.ReadFile(filepath.Join(dir, bundle.LockFile))
	if err != nil {
		return nil, err
	}
	l, err := bundle.ParseLock(b)
	if err != nil {
		return nil, err
	}
	entries, err := bundle.ReadJournalFile(filepath.Join(dir, bundle.JournalFile))
	if err != nil {
		return l, fmt.Errorf("read the journal: %w", err)
	}
	l.Journal = bundle.Fold(entries)
	return l, nil
}
