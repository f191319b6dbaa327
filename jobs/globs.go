package jobs

import (
	"fmt"
	"path"
	"path/filepath"
)

// CheckGlobs rejects malformed patterns at load time.
func CheckGlobs(globs []string) error {
	for _, g := range globs {
		if _, err := filepath.Match(g, ""); err != nil {
			return fmt.Errorf("bad glob %q: %w", g, err)
		}
	}
	return nil
}

// ExpandGlobs expands each glob relative to dir. A glob that matches nothing
// is a FAILED result naming it: a deploy that silently ships nothing is
// worse than one that stops.
func ExpandGlobs(dir string, globs []string) ([]string, *Result) {
	var files []string
	for _, g := range globs {
		pat := g
		if !filepath.IsAbs(pat) {
			pat = filepath.Join(dir, g)
		}
		m, err := filepath.Glob(pat)
		if err != nil {
			r := Resultf(Failed, "bad glob %q: %v", g, err)
			return nil, &r
		}
		if len(m) == 0 {
			r := Resultf(Failed, "%q matches no file in %s", g, dir)
			return nil, &r
		}
		files = append(files, m...)
	}
	return files, nil
}

// InsideBundle cleans a path that must stay inside the bundle and refuses
// one that leaves it.
func InsideBundle(p string) (string, error) {
	if path.IsAbs(p) {
		return "", fmt.Errorf("%q must be relative to the bundle", p)
	}
	c := path.Clean(p)
	if c == ".." || len(c) > 2 && c[:3] == "../" {
		return "", fmt.Errorf("%q leaves the bundle", p)
	}
	return c, nil
}
