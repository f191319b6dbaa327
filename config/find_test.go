package config

import (
	"os"
	"path/filepath"
	"testing"
)

func TestFind(t *testing.T) {
	root := t.TempDir()
	deep := filepath.Join(root, "app", "src", "pkg")
	os.MkdirAll(deep, 0o755)
	t.Setenv("CONC_FILE", "")
	if got := Find(deep); got != DefaultFile {
		t.Errorf("no conc.ini anywhere: %q, want %q", got, DefaultFile)
	}
	os.WriteFile(filepath.Join(root, "app", DefaultFile), nil, 0o600)
	if got, want := Find(deep), filepath.Join(root, "app", DefaultFile); got != want {
		t.Errorf("conc.ini two levels up: %q, want %q", got, want)
	}
	if got := Find(filepath.Join(root, "app")); got != DefaultFile {
		t.Errorf("conc.ini here: %q, want %q", got, DefaultFile)
	}
	t.Setenv("CONC_FILE", "/srv/site.ini")
	if got := Find(deep); got != "/srv/site.ini" {
		t.Errorf("CONC_FILE: %q", got)
	}
}
