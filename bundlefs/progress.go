package bundlefs

import (
	"io"

	"github.com/concdeploy/conc/jobs"
	"github.com/schollz/progressbar/v3"
)

// noProgress shows nothing: output is not a terminal, or a bar would
// interleave with another node's.
type noProgress struct{}

func (noProgress) Add(int64) {}
func (noProgress) Done()     {}

// barProgress is a byte progress bar on the operator's terminal.
type barProgress struct{ bar *progressbar.ProgressBar }

func (b barProgress) Add(n int64) { b.bar.Add64(n) }
func (b barProgress) Done()       { b.bar.Finish() }

// NewProgress returns a bar on w, or nothing when w is nil: a copy's
// progress, over SFTP or through the node's store.
func NewProgress(w io.Writer, what string, total int64) jobs.Progress {
	if w == nil || total <= 0 {
		return noProgress{}
	}
	return barProgress{bar: progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(what),
		progressbar.OptionShowBytes(true),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionThrottle(100_000_000),
	)}
}
