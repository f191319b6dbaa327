package runreport

import (
	"io"

	"github.com/rs/zerolog"
)

// NewLogger is conc's diagnostics logger: warnings (everything when
// verbose) to stderr, in colour when color is set, and everything to file
// when it is not nil.
func NewLogger(stderr io.Writer, color, verbose bool, file io.Writer) zerolog.Logger {
	level := zerolog.WarnLevel
	if verbose {
		level = zerolog.DebugLevel
	}
	console := zerolog.ConsoleWriter{Out: stderr, NoColor: !color, TimeFormat: "15:04:05"}
	writers := []io.Writer{&zerolog.FilteredLevelWriter{Writer: zerolog.LevelWriterAdapter{Writer: console}, Level: level}}
	if file != nil {
		writers = append(writers, file)
	}
	return zerolog.New(zerolog.MultiLevelWriter(writers...)).With().Timestamp().Logger()
}
