package runreport

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"
)

// queue writes items in order on its own goroutine. It never drops an
// item; a full queue makes the sender wait. On a terminal, with several
// nodes, it keeps a live block at the bottom: each running node's job and
// how long it has run, redrawn under the lines as they come and once a
// second.
type queue struct {
	items chan item
	done  chan struct{}
	out   io.Writer
	color bool
	once  sync.Once

	live    bool                   // the live block is on
	width   int                    // the terminal's columns; 0 unknown
	running map[string]*liveUpdate // by node
	drawn   int                    // lines of the live block on the screen
	now     func() time.Time       // the clock; tests set it
}

// item is a job line, raw text, or both: the line, then the text. An item
// with flushed set is a marker, closed once what came before it is written;
// one with live changes the live block.
type item struct {
	line    *jobLine
	data    []byte
	to      io.Writer // data goes here instead of out
	flushed chan struct{}
	live    *liveUpdate
}

// liveUpdate is a node's job starting (or the node done), or the live
// block turned on or off.
type liveUpdate struct {
	node, label, op string
	step, steps     int
	since           time.Time
	done, on, off   bool
	// bar marks the node's job as one that draws a progress bar of its
	// own, which the live block must not draw over.
	bar bool
}

func newQueue(out io.Writer, color bool) *queue {
	q := &queue{items: make(chan item, 4096), done: make(chan struct{}), out: out, color: color, running: map[string]*liveUpdate{}, now: time.Now}
	go q.loop()
	return q
}

// burstPause is how long the queue rests after writing a burst. A fast
// plan then wakes the printing goroutine at most a few hundred times a
// second, not once a job, and lines still show at once when jobs are slow.
const burstPause = 5 * time.Millisecond

// liveEvery is how often the live block's times are redrawn.
const liveEvery = time.Second

func (q *queue) loop() {
	defer close(q.done)
	var b bytes.Buffer
	tick := time.NewTicker(liveEvery)
	defer tick.Stop()
	for {
		var it item
		var ok bool
		select {
		case it, ok = <-q.items:
		case <-tick.C:
			if q.live && q.drawn+len(q.running) > 0 {
				b.Reset()
				q.redraw(&b)
				q.out.Write(b.Bytes())
			}
			continue
		}
		if !ok {
			return
		}
		b.Reset()
		q.erase(&b)
		var flushed []chan struct{}
		add := func(it item) {
			if it.line != nil {
				it.line.format(&b, q.color)
			}
			switch {
			case it.to != nil:
				// What came before it on stdout goes first.
				q.out.Write(b.Bytes())
				b.Reset()
				it.to.Write(it.data)
			default:
				b.Write(it.data)
			}
			if it.live != nil {
				q.update(it.live)
			}
			if it.flushed != nil {
				flushed = append(flushed, it.flushed)
			}
		}
		add(it)
		// Write what else is queued in the same write: a fast plan's
		// lines cost one write per burst, not per job.
		for more := true; more && b.Len() < 64<<10; {
			select {
			case next, ok := <-q.items:
				if ok {
					add(next)
				} else {
					more = false
				}
			default:
				more = false
			}
		}
		q.draw(&b)
		q.out.Write(b.Bytes())
		for _, f := range flushed {
			close(f)
		}
		if len(flushed) == 0 && len(q.items) == 0 {
			time.Sleep(burstPause)
		}
	}
}

// update applies a change to the live block's state.
func (q *queue) update(u *liveUpdate) {
	switch {
	case u.on:
		q.live = q.color // only a terminal gets one
	case u.off:
		q.live = false
		clear(q.running)
	case u.done:
		delete(q.running, u.node)
	case u.bar:
		if r := q.running[u.node]; r != nil {
			r.bar = true
		}
	default:
		q.running[u.node] = u
	}
}

// erase removes the live block from the screen, so lines print where it
// was.
func (q *queue) erase(b *bytes.Buffer) {
	if q.drawn > 0 {
		fmt.Fprintf(b, "\x1b[%dA\r\x1b[J", q.drawn)
		q.drawn = 0
	}
}

// liveAfter is how long a job runs before the live block shows it: a
// quick job would only flicker.
const liveAfter = time.Second

// draw puts the live block under what was written: each job that has run
// for liveAfter and draws no progress bar of its own.
func (q *queue) draw(b *bytes.Buffer) {
	if !q.live || len(q.running) == 0 {
		return
	}
	now := q.now()
	nodes := make([]string, 0, len(q.running))
	for n, u := range q.running {
		if !u.bar && now.Sub(u.since) >= liveAfter {
			nodes = append(nodes, n)
		}
	}
	slices.Sort(nodes)
	for _, n := range nodes {
		u := q.running[n]
		line := fmt.Sprintf("  running  %-20s %6s %-14s %8s", u.label,
			fmt.Sprintf("%d/%d", u.step, u.steps), u.op, now.Sub(u.since).Truncate(time.Second))
		if r := []rune(line); q.width > 0 && len(r) >= q.width {
			// A line that wrapped would take two rows, and erase counts one.
			line = string(r[:q.width-1])
		}
		fmt.Fprintf(b, "\x1b[2m%s\x1b[0m\n", line)
	}
	q.drawn = len(nodes)
}

// redraw draws the live block again, for its times.
func (q *queue) redraw(b *bytes.Buffer) {
	q.erase(b)
	q.draw(b)
}

func (q *queue) raw(p []byte) {
	if !bytes.HasSuffix(p, []byte("\n")) {
		p = append(p, '\n')
	}
	q.items <- item{data: p}
}

func (q *queue) close() {
	q.once.Do(func() { close(q.items) })
	<-q.done
}
