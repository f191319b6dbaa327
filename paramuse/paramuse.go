// Package paramuse refuses a deploy file whose params include one that
// nothing reads or uses: most likely a typo of a built-in key. It reads
// the template files the plans render, so it runs on the workstation only,
// after config has loaded the file.
package paramuse

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/concdeploy/conc/config"
	"github.com/concdeploy/conc/jobs"
)

// A param the deploy file sets must be read by conc (builtinParams), used
// somewhere in the file, or marked as the operator's own with OwnPrefix.
// Anything else is most likely a typo of a built-in key (sshd.prot,
// identiy, bundel), which would otherwise pass as a param of the
// operator's and leave the node on port 22 or the default bundle.
//
// "Used" is read conservatively: a ${key} anywhere in the file (params,
// steps, [test NAME] sections), or a name inside {{ }} in a template file
// that a template step renders. When what a template uses cannot be known
// (the file is missing, its name depends on a param that matches no file,
// or it hands the whole of . to something), every key counts as used.

// maxTemplate bounds how much of one template file is read for the names
// it uses; a larger file counts as using every key.
const maxTemplate = 16 << 20

// maxTemplateFiles bounds the files one template step's SRC may match
// when a ${key} in it is read as a glob.
const maxTemplateFiles = 100

// Check refuses a param that nothing reads or uses, naming its file and
// line and the built-in key it is most likely a typo of.
func Check(f *config.File) error {
	used, all := usedKeys(f)
	if all {
		return nil
	}
	var unused []config.DefinedParam
	for _, d := range f.DefinedParams() {
		if config.IsBuiltinParam(d.Key) || strings.HasPrefix(d.Key, config.OwnPrefix) || used[d.Key] {
			continue
		}
		unused = append(unused, d)
	}
	if len(unused) == 0 {
		return nil
	}
	fileIndex := map[string]int{}
	for i, p := range f.Paths {
		if _, ok := fileIndex[p]; !ok {
			fileIndex[p] = i
		}
	}
	sort.Slice(unused, func(i, j int) bool {
		a, b := unused[i].Pos, unused[j].Pos
		if fileIndex[a.File] != fileIndex[b.File] {
			return fileIndex[a.File] < fileIndex[b.File]
		}
		return a.Line < b.Line
	})
	return unusedError(unused)
}

// unusedError describes the first unused param, and names the others.
func unusedError(unused []config.DefinedParam) *config.Error {
	u := unused[0]
	key := clip(u.Key)
	var msg string
	switch {
	case config.IsGroupSetting(u.Key):
		msg = fmt.Sprintf("%s in %s is a setting of a group; move it to a [group NAME] section (or, if it is your own param, name it %s%s)", key, u.Section, config.OwnPrefix, key)
	default:
		hint := ""
		if s := suggest(u.Key); s != "" {
			hint = "did you mean " + s + "? "
		}
		msg = fmt.Sprintf("unknown key %s in %s: %sconc reads no param %s, and no ${%s}, template or [test NAME] uses it; if it is your own param, name it %s%s",
			key, u.Section, hint, key, key, config.OwnPrefix, key)
	}
	if rest := unused[1:]; len(rest) > 0 {
		var others []string
		for i, o := range rest {
			if i == 5 {
				others = append(others, fmt.Sprintf("and %d more", len(rest)-i))
				break
			}
			others = append(others, fmt.Sprintf("%s (%s)", clip(o.Key), o.Pos))
		}
		msg += "; unused too: " + strings.Join(others, ", ")
	}
	return &config.Error{Pos: u.Pos, Msg: msg}
}

// suggest returns the built-in key that key is most likely a typo of, or
// "": one that differs only in case and separators (sshd_port), or is at
// most two edits away (one for short keys), counting a swap of two
// neighbouring letters as one edit.
func suggest(key string) string { return suggestAmong(key, config.BuiltinParams()) }

// suggestAmong returns the key of keys that key is most likely a typo of,
// as suggest does, or "".
func suggestAmong(key string, keys []string) string {
	best, bestD := "", 3
	for _, b := range keys {
		if fold(b) == fold(key) {
			return b
		}
		limit := 2
		if len(key) <= 4 {
			limit = 1
		}
		if d := editDistance(strings.ToLower(key), b); d <= limit && d < bestD {
			best, bestD = b, d
		}
	}
	return best
}

// fold drops case and the separators '.', '_' and '-'.
func fold(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '.' || r == '_' || r == '-' {
			return -1
		}
		return r
	}, strings.ToLower(s))
}

// editDistance is the optimal string alignment distance between a and b:
// insertions, deletions, substitutions and swaps of neighbours, each one.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 64
	}
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}

// usedKeys returns the keys that a ${key} in the file or a template file
// refers to; all is true when that cannot be known.
func usedKeys(f *config.File) (used map[string]bool, all bool) {
	used = map[string]bool{}
	for _, v := range f.RawValues() {
		refs(v, used)
	}
	for _, st := range f.RawSteps() {
		if !templateUses(f.Dir, st, used) {
			return used, true
		}
	}
	return used, false
}

// refs adds the keys of the ${key} references in s to used, read as
// expand reads them.
func refs(s string, used map[string]bool) {
	for {
		i := strings.Index(s, "$")
		if i < 0 {
			return
		}
		s = s[i:]
		switch {
		case strings.HasPrefix(s, "$${"):
			s = s[3:]
		case strings.HasPrefix(s, "${"):
			end := strings.IndexByte(s, '}')
			if end < 0 {
				return
			}
			used[s[2:end]] = true
			s = s[end+1:]
		default:
			s = s[1:]
		}
	}
}

// templateUses adds the names that the template of a template step uses
// to used. It reports false when it cannot tell which they are. A step of
// another op adds nothing.
func templateUses(dir, line string, used map[string]bool) bool {
	words, err := jobs.Split(line)
	if err != nil || len(words) < 2 {
		return true // Plan reports the line; it runs nothing
	}
	op := words[1]
	if strings.Contains(op, "${") {
		return false
	}
	if op != "template" {
		return true
	}
	src := ""
	for i := 2; i < len(words); i++ {
		w := words[i]
		if strings.HasPrefix(w, "-") && len(w) > 1 {
			if !strings.Contains(w, "=") && i+1 < len(words) {
				i++ // the flag's value: --mode 0640, --timeout 5m
			}
			continue
		}
		src = w
		break
	}
	if src == "" {
		return true // Prepare reports it
	}
	pattern := src
	if strings.Contains(src, "${") {
		pattern = dollarRE.ReplaceAllString(src, "*")
	} else {
		pattern = globMeta.Replace(src)
	}
	if !filepath.IsAbs(pattern) {
		pattern = filepath.Join(globMeta.Replace(dir), pattern)
	}
	files, err := filepath.Glob(pattern)
	if err != nil || len(files) == 0 || len(files) > maxTemplateFiles {
		return false
	}
	for _, name := range files {
		if !templateFileUses(name, used) {
			return false
		}
	}
	return true
}

var (
	dollarRE = regexp.MustCompile(`\$\{[^}]*\}`)
	globMeta = strings.NewReplacer(`*`, `\*`, `?`, `\?`, `[`, `\[`, `\`, `\\`)
)

// templateFileUses reads a template file and adds the names it uses. It
// reads only a regular file, so that a FIFO named as a template does not
// stop the load.
func templateFileUses(name string, used map[string]bool) bool {
	fi, err := os.Stat(name)
	if err != nil || !fi.Mode().IsRegular() || fi.Size() > maxTemplate {
		return false
	}
	fh, err := os.Open(name)
	if err != nil {
		return false
	}
	defer fh.Close()
	text, err := io.ReadAll(io.LimitReader(fh, maxTemplate+1))
	if err != nil || len(text) > maxTemplate {
		return false
	}
	return templateTextUses(string(text), used)
}

var (
	actionRE  = regexp.MustCompile(`(?s)\{\{(.*?)\}\}`)
	stringRE  = regexp.MustCompile("\"(?:[^\"\\\\]|\\\\.)*\"|`[^`]*`")
	nameRE2   = regexp.MustCompile(`[A-Za-z_][A-Za-z0-9_.-]*`)
	indexDot  = regexp.MustCompile(`\bindex\s+\.(\s|$)`)
	bareDotRE = regexp.MustCompile(`(^|[^A-Za-z0-9_)\]$])\.($|[^A-Za-z0-9_])`)
	bareRoot  = regexp.MustCompile(`\$($|[^A-Za-z0-9_.])`)
)

// templateTextUses adds every name inside {{ }} of a Go template to used
// (.app_port, index . "sshd.ip", and, to err on the side of "used", every
// other word there too). A bare . or $ that is not index's map hands the
// whole of the params to something, and then it reports false.
func templateTextUses(text string, used map[string]bool) bool {
	for _, m := range actionRE.FindAllStringSubmatch(text, -1) {
		body := m[1]
		for _, s := range stringRE.FindAllString(body, -1) {
			addNames(s, used)
		}
		code := stringRE.ReplaceAllString(body, `""`)
		addNames(code, used)
		if strings.HasPrefix(strings.TrimLeft(code, "- \t\r\n"), "/*") {
			continue // a comment: its words count, its dots do not
		}
		rest := indexDot.ReplaceAllString(code, "index _ ")
		if bareDotRE.MatchString(rest) || bareRoot.MatchString(rest) {
			return false
		}
	}
	return true
}

// addNames adds each word of s, and each of its dotted parts, to used.
func addNames(s string, used map[string]bool) {
	for _, w := range nameRE2.FindAllString(s, -1) {
		used[w] = true
		for _, part := range strings.Split(w, ".") {
			used[part] = true
		}
	}
}

// clip shortens a key quoted in a message: a line may be 1 MiB long.
func clip(s string) string {
	const max = 80
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}
