package config

import (
	"os"
	"path/filepath"
)

// DefaultFile is the deploy file's name when none is given.
const DefaultFile = "conc.ini"

// Find returns the deploy file to use when -f gives none: $CONC_FILE, else
// conc.ini in dir, else the nearest conc.ini above dir, as git finds .git,
// so that conc works from any directory of the project. When there is
// none it returns conc.ini, whose error names it.
func Find(dir string) string {
	if f := os.Getenv("CONC_FILE"); f != "" {
		return f
	}
	if _, err := os.Stat(filepath.Join(dir, DefaultFile)); err == nil {
		return DefaultFile
	}
	for d := filepath.Dir(dir); ; d = filepath.Dir(d) {
		p := filepath.Join(d, DefaultFile)
		if _, err := os.Stat(p); err == nil {
			return p
		}
		if d == filepath.Dir(d) {
			return DefaultFile
		}
	}
}
