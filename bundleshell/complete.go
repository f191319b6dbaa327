package bundleshell

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/concdeploy/conc/jobs"
)

// Limits of Tab completion: a listing that takes longer gives up, and no
// more candidates than this are kept or shown.
const (
	listTimeout   = 3 * time.Second
	maxCandidates = 200
)

// entry is a candidate name in a directory; dir marks one that Tab
// completes with a "/".
type entry struct {
	name      string
	dir, link bool
}

// lister lists the entries of dir ("" for the current directory) whose
// names start with prefix, at most maxCandidates+1 of them; it tells
// whether a lone symlink among them leads to a directory.
type lister func(dir, prefix string) ([]entry, error)

// completion is what Tab does to a line: the new line and cursor, and
// the candidates to show when it could not complete further.
type completion struct {
	line  string
	pos   int
	shown []string // candidates to list; nil for none
	note  string   // why nothing was completed, when it is worth saying
}

// completeLine completes the word before pos in line: the command's name
// in the first word, else a path in the bundle (remote) or on this machine
// (local), as the command's argument takes it. It completes the longest
// common prefix of the candidates; when that adds nothing and there are
// several, it lists them.
func completeLine(line string, pos int, remote, local lister) completion {
	start, word, nth, words := currentWord(line[:pos])
	none := completion{line: line, pos: pos}
	var names []entry
	var err error
	dir := ""
	if nth == 0 {
		names = commandEntries(word)
	} else {
		list := remote
		switch argKind(words, nth) {
		case argLocal:
			list = local
		case argNone:
			return none
		}
		if i := strings.LastIndexByte(word, '/'); i >= 0 {
			dir, word = word[:i+1], word[i+1:]
		}
		names, err = list(dir, word)
	}
	if err != nil {
		none.note = err.Error()
		return none
	}
	return completeFrom(line, pos, start, dir, word, names, nth == 0)
}

// completeFrom completes the word at line[start:pos], a path in dir whose
// last part is typed, from the candidates names.
func completeFrom(line string, pos, start int, dir, typed string, names []entry, command bool) completion {
	c := completion{line: line, pos: pos}
	if len(names) == 0 {
		return c
	}
	var text string
	switch common := commonPrefix(names); {
	case len(names) == 1 && !names[0].dir:
		text = jobs.Quote(dir+names[0].name) + " "
	case len(names) == 1:
		text = jobs.Quote(dir + names[0].name + "/")
	case len(common) > len(typed):
		text = strings.TrimSuffix(jobs.Quote(dir+common), "'")
	default:
		c.shown = shownNames(names, command)
		return c
	}
	c.line = line[:start] + text + line[pos:]
	c.pos = start + len(text)
	return c
}

// shownNames are the candidates as the list after a Tab shows them:
// directories end in "/", and past maxCandidates the list says how many
// more there are.
func shownNames(names []entry, command bool) []string {
	var shown []string
	for i, e := range names {
		if i == maxCandidates {
			shown = append(shown, "(and more)")
			break
		}
		if e.dir && !command {
			e.name += "/"
		}
		shown = append(shown, e.name)
	}
	return shown
}

func commonPrefix(names []entry) string {
	p := names[0].name
	for _, e := range names[1:] {
		for !strings.HasPrefix(e.name, p) {
			p = p[:len(p)-1]
		}
	}
	return p
}

// currentWord splits the line before the cursor like shell words and
// returns where the last word starts, its value unquoted (an open quote
// is fine), its index and the words before it.
func currentWord(before string) (start int, word string, nth int, words []string) {
	var cur strings.Builder
	var quote byte
	inWord, escaped := false, false
	for i := 0; i < len(before); i++ {
		c := before[i]
		switch {
		case escaped:
			cur.WriteByte(c)
			escaped = false
		case quote != 0 && c == quote:
			quote = 0
		case quote != 0:
			cur.WriteByte(c)
		case c == '\\' || c == '\'' || c == '"':
			if !inWord {
				start, inWord = i, true
			}
			if c == '\\' {
				escaped = true
			} else {
				quote = c
			}
		case c == ' ' || c == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			if !inWord {
				start, inWord = i, true
			}
			cur.WriteByte(c)
		}
	}
	if !inWord {
		start = len(before)
	}
	return start, cur.String(), len(words), words
}

// Kinds of argument, for completion.
const (
	argRemote = iota
	argLocal
	argNone
)

// argKind says what the nth word (1 for the first argument) of the
// command words[0] names.
func argKind(words []string, nth int) int {
	n := nth
	if words[0] == "rm" && len(words) > 1 && isRecursive(words[1]) {
		n--
	}
	switch {
	case words[0] == "put" && n == 1, words[0] == "get" && n == 2:
		return argLocal
	}
	for _, c := range shellCommands {
		if c.name == words[0] {
			if n > c.max || c.max == 0 || words[0] == "rm" && n > 1 {
				return argNone
			}
			return argRemote
		}
	}
	return argNone
}

func commandEntries(prefix string) []entry {
	var es []entry
	for _, c := range shellCommands {
		if strings.HasPrefix(c.name, prefix) {
			es = append(es, entry{name: c.name})
		}
	}
	if strings.HasPrefix("quit", prefix) && prefix != "" {
		es = append(es, entry{name: "quit"})
	}
	sort.Slice(es, func(i, j int) bool { return es[i].name < es[j].name })
	return es
}

// keep filters a directory's names as Tab offers them: those starting with
// prefix, hiding dot files unless the prefix starts with a dot, sorted.
func keep(names []entry, prefix string) []entry {
	var es []entry
	for _, e := range names {
		if strings.HasPrefix(e.name, prefix) && (prefix != "" && prefix[0] == '.' || e.name[0] != '.') {
			es = append(es, e)
		}
	}
	sort.Slice(es, func(i, j int) bool { return es[i].name < es[j].name })
	if len(es) > maxCandidates+1 {
		es = es[:maxCandidates+1]
	}
	return es
}

// remoteEntries lists a directory of the bundle over SFTP, giving up
// after listTimeout; a path that leaves the bundle lists nothing.
func (s *Shell) remoteEntries(ctx context.Context) lister {
	return func(dir, prefix string) ([]entry, error) {
		ctx, cancel := context.WithTimeout(ctx, listTimeout)
		defer cancel()
		real, err := s.resolve(orDot(dir), true)
		if err != nil {
			return nil, nil
		}
		fis, err := s.c.ReadDirContext(ctx, real)
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, &CommandError{Cmd: "ls", Path: orDot(dir), Err: errors.New("listing it took too long, over " + listTimeout.String())}
		}
		if err != nil {
			return nil, nil
		}
		es := make([]entry, 0, len(fis))
		for _, fi := range fis {
			es = append(es, entry{name: fi.Name(), dir: fi.IsDir(), link: fi.Mode()&fs.ModeSymlink != 0})
		}
		es = keep(es, prefix)
		if len(es) == 1 && es[0].link {
			if r, err := s.resolve(path.Join(orDot(dir), es[0].name), true); err == nil {
				fi, err := s.c.Stat(r)
				es[0].dir = err == nil && fi.IsDir()
			}
		}
		return es, nil
	}
}

// localEntries lists a directory on this machine.
func localEntries(dir, prefix string) ([]entry, error) {
	des, err := os.ReadDir(filepath.FromSlash(orDot(dir)))
	if err != nil {
		return nil, nil
	}
	es := make([]entry, 0, len(des))
	for _, de := range des {
		es = append(es, entry{name: de.Name(), dir: de.IsDir(), link: de.Type()&fs.ModeSymlink != 0})
	}
	es = keep(es, prefix)
	if len(es) == 1 && es[0].link {
		fi, err := os.Stat(filepath.Join(orDot(dir), es[0].name))
		es[0].dir = err == nil && fi.IsDir()
	}
	return es, nil
}

func orDot(dir string) string {
	if dir == "" {
		return "."
	}
	return dir
}
