package main

// Reading the Markdown pages (README.md and docs/*.md): their fenced
// blocks, the shell commands in them, and their links.

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode"
)

// mdPages are the pages whose commands and links are checked, as paths
// from the repository root.
func mdPages(t *testing.T) []string {
	t.Helper()
	docs, err := filepath.Glob(filepath.Join("..", "..", "docs", "*.md"))
	if err != nil || len(docs) == 0 {
		t.Fatalf("docs/*.md: %v", err)
	}
	pages := []string{"README.md"}
	for _, d := range docs {
		pages = append(pages, filepath.ToSlash(filepath.Join("docs", filepath.Base(d))))
	}
	return pages
}

// fence is a fenced block of a page, its indentation removed.
type fence struct {
	info       string
	line, end  int // of the opening and closing fence lines (1-based)
	text       string
	prev, next *fence // the blocks just before and after, when only blank lines part them
}

var fenceLine = regexp.MustCompile("^(\\s*)```\\s*([A-Za-z]*)\\s*$")

// fences returns a page's fenced blocks in order.
func fences(src string) []*fence {
	lines := strings.Split(src, "\n")
	var out []*fence
	for i := 0; i < len(lines); i++ {
		m := fenceLine.FindStringSubmatch(lines[i])
		if m == nil {
			continue
		}
		f := &fence{info: m[2], line: i + 1}
		var body []string
		for i++; i < len(lines) && strings.TrimSpace(lines[i]) != "```"; i++ {
			body = append(body, strings.TrimPrefix(lines[i], m[1]))
		}
		f.end = i + 1
		f.text = strings.Join(body, "\n") + "\n"
		if n := len(out); n > 0 && strings.TrimSpace(strings.Join(lines[out[n-1].end:f.line-1], "")) == "" {
			out[n-1].next, f.prev = f, out[n-1]
		}
		out = append(out, f)
	}
	return out
}

// docCommand is one command of a shell block: a logical line (continued
// by a trailing \ or |), with its comments.
type docCommand struct {
	page    string
	line    int
	text    string
	comment string // the comment lines right before it
	block   *fence
}

// promised are the phrases the comment before a command quotes ("..."),
// which its output should show; a trailing "..." is dropped.
func (c docCommand) promised() []string {
	var out []string
	for _, m := range regexp.MustCompile(`"([^"]+)"`).FindAllStringSubmatch(c.comment, -1) {
		out = append(out, strings.TrimSpace(strings.TrimSuffix(m[1], "...")))
	}
	return out
}

func (c docCommand) String() string { return fmt.Sprintf("%s:%d: %s", c.page, c.line, c.text) }

// isShell reports whether a block is a shell block, whose commands are run.
func isShell(info string) bool {
	return info == "sh" || info == "bash" || info == "shell" || info == "console"
}

// shellCommands returns the commands of every shell block of the pages.
func shellCommands(t *testing.T, pages []string) []docCommand {
	t.Helper()
	var out []docCommand
	for _, page := range pages {
		for _, f := range fences(readRepoFile(t, page)) {
			if !isShell(f.info) {
				continue
			}
			var cur *docCommand
			comment := ""
			for i, l := range strings.Split(strings.TrimRight(f.text, "\n"), "\n") {
				if cur == nil {
					trimmed := strings.TrimSpace(l)
					if trimmed == "" {
						comment = ""
					}
					if trimmed == "" || strings.HasPrefix(trimmed, "#") {
						comment += trimmed + "\n"
						continue
					}
					cur = &docCommand{page: page, line: f.line + 1 + i, block: f, comment: strings.TrimSpace(comment)}
					comment = ""
				} else {
					cur.text += "\n"
				}
				cur.text += l
				code := strings.TrimSpace(l)
				if !openQuote(cur.text) && !strings.HasSuffix(code, "\\") && !strings.HasSuffix(code, "|") {
					out = append(out, *cur)
					cur = nil
				}
			}
			if cur != nil {
				t.Errorf("%s:%d: a command continues past the end of its block", page, cur.line)
			}
		}
	}
	return out
}

// openQuote reports whether shell text ends inside a quoted string, which
// then goes on on the next line.
func openQuote(text string) bool {
	var quote, prev rune
	escaped, comment := false, false
	for _, r := range text {
		switch {
		case comment:
			comment = r != '\n'
		case escaped:
			escaped = false
		case r == '\\' && quote != '\'':
			escaped = true
		case quote == 0 && r == '#' && (prev == 0 || prev == ' ' || prev == '\n'):
			comment = true
		case quote == 0 && (r == '\'' || r == '"'):
			quote = r
		case r == quote:
			quote = 0
		}
		prev = r
	}
	return quote != 0
}

// mdLink is a link of a page ([text](target) or ![alt](target)), outside
// code.
var mdLink = regexp.MustCompile(`!?\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)`)

// inlineCode is a code span, whose brackets are no link.
var inlineCode = regexp.MustCompile("`[^`]*`")

// htmlAnchor is an anchor set by hand: <a id="name"></a>.
var htmlAnchor = regexp.MustCompile(`<a (?:id|name)="([^"]+)"`)

// anchors returns a page's anchors: those set by hand, and those GitHub
// makes of its headings (lower case, punctuation dropped, spaces to
// hyphens, repeats numbered).
func anchors(src string) map[string]bool {
	out := map[string]bool{}
	seen := map[string]int{}
	inFence := false
	for _, l := range strings.Split(src, "\n") {
		if fenceLine.MatchString(l) {
			inFence = !inFence
			continue
		}
		if inFence {
			continue
		}
		for _, m := range htmlAnchor.FindAllStringSubmatch(l, -1) {
			out[m[1]] = true
		}
		if !strings.HasPrefix(l, "#") {
			continue
		}
		title := strings.TrimSpace(strings.TrimLeft(l, "#"))
		var b strings.Builder
		for _, r := range strings.ToLower(title) {
			switch {
			case unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || r == '_':
				b.WriteRune(r)
			case r == ' ':
				b.WriteRune('-')
			}
		}
		a := b.String()
		if n := seen[a]; n > 0 {
			out[fmt.Sprintf("%s-%d", a, n)] = true
		} else {
			out[a] = true
		}
		seen[a]++
	}
	return out
}

// Every relative link of README.md and docs/*.md names a file of the
// repository, and its #anchor, if any, a heading of that page.
func TestDocsLinks(t *testing.T) {
	links := 0
	for _, page := range mdPages(t) {
		src := readRepoFile(t, page)
		inFence := false
		for n, l := range strings.Split(src, "\n") {
			if fenceLine.MatchString(l) {
				inFence = !inFence
				continue
			}
			if inFence {
				continue
			}
			for _, m := range mdLink.FindAllStringSubmatch(inlineCode.ReplaceAllString(l, ""), -1) {
				target := m[1]
				if regexp.MustCompile(`^[a-z]+:`).MatchString(target) {
					continue // http:, https:, mailto:
				}
				links++
				path, anchor, _ := strings.Cut(target, "#")
				file := page
				if path != "" {
					file = filepath.ToSlash(filepath.Join(filepath.Dir(page), path))
					if _, err := os.Stat(filepath.Join("..", "..", file)); err != nil {
						t.Errorf("%s:%d: link %s: %v", page, n+1, target, err)
						continue
					}
				}
				if anchor == "" {
					continue
				}
				if !strings.HasSuffix(file, ".md") {
					t.Errorf("%s:%d: link %s: an anchor into a file that is not Markdown", page, n+1, target)
				} else if !anchors(readRepoFile(t, file))[anchor] {
					t.Errorf("%s:%d: link %s: %s has no heading #%s", page, n+1, target, file, anchor)
				}
			}
		}
	}
	if links < 20 {
		t.Errorf("found %d relative links, expected more: is the link pattern broken?", links)
	}
}

// The reader of the pages: what it finds in a made-up page.
func TestDocsPageReader(t *testing.T) {
	src := "# A b, c!\n## A b, c!\n\n<a id=\"x-y\"></a>text\n\n```sh\n# comment\nx \\\n  y\nz | \n  w   # it's\ncurl -d '{\n  \"a\": 1}'\n```\n\n```text\nout\n```\n\npara\n  ```sh\n  q\n  ```\n"
	if a := anchors(src); !a["a-b-c"] || !a["a-b-c-1"] || !a["x-y"] || len(a) != 3 {
		t.Errorf("anchors: %v", a)
	}
	fs := fences(src)
	if len(fs) != 3 || fs[0].next != fs[1] || fs[1].prev != fs[0] || fs[1].next != nil || fs[2].text != "q\n" || fs[1].text != "out\n" {
		t.Fatalf("fences: %+v", fs)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "p.md"), []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	root, _ := filepath.Abs(filepath.Join("..", ".."))
	rel, err := filepath.Rel(root, filepath.Join(dir, "p.md"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range shellCommands(t, []string{rel}) {
		got = append(got, fmt.Sprintf("%d:%s", c.line, c.text))
	}
	if want := []string{"8:x \\\n  y", "10:z | \n  w   # it's", "12:curl -d '{\n  \"a\": 1}'", "22:q"}; strings.Join(got, ";") != strings.Join(want, ";") {
		t.Errorf("commands %q, want %q", got, want)
	}
}
