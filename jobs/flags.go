package jobs

import (
	"io"

	"github.com/spf13/pflag"
)

// NewFlags returns a flag set for an op's arguments. interspersed lets
// options follow the positional arguments ("GLOB --into DIR"); ops that take
// a command line turn it off so the command's own flags stay its own.
func NewFlags(op string, interspersed bool) *pflag.FlagSet {
	fs := pflag.NewFlagSet(op, pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.SetInterspersed(interspersed)
	return fs
}
