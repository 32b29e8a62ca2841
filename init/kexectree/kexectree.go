// Package kexectree reads what a HomestakerOS kexec tree asks to boot: the
// kernel, initrd and command line named by its kexec-boot script (or, when
// that is absent, its netboot.ipxe). It parses bytes and runs nothing.
package kexectree

import (
	"fmt"
	"path"
	"strings"
	"unicode/utf8"
)

// Tree is what a kexec tree asks to boot. Kernel and Initrd are relative to
// the tree's directory: cleaned, never absolute, never escaping with "..".
type Tree struct {
	Kernel  string // e.g. "bzImage"
	Initrd  string // e.g. "initrd.zst"; "" when none
	Cmdline string // verbatim command line
	From    string // "kexec-boot" or "netboot.ipxe"
}

// ParseError says where a script stopped making sense and what was expected
// there. Line is 1-based; 0 when the problem is the file as a whole (no
// kexec command at all, say), and then Text is empty.
type ParseError struct {
	File string // as passed to the parser, e.g. "/boot/current/kexec-boot"
	Line int    // first physical line of the (continued) line
	Text string // the line, trimmed, at most maxQuote characters
	Msg  string // what is wrong and what was expected
}

func (e *ParseError) Error() string {
	switch {
	case e.Line <= 0:
		return fmt.Sprintf("%s: %s", e.File, e.Msg)
	case e.Text == "":
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s:%d: %q: %s", e.File, e.Line, e.Text, e.Msg)
}

// maxQuote bounds the quoted line so that one error fits a console line or
// two even when the offending line is a multi-kilobyte command line.
const maxQuote = 120

// quoteLine turns a (possibly continued) line into ParseError.Text: runs of
// white space, including the newlines of joined lines, become one space.
func quoteLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) <= maxQuote {
		return s
	}
	n := 0
	for i := range s {
		if n == maxQuote-3 {
			return s[:i] + "..."
		}
		n++
	}
	return s
}

// inTree cleans a path that is relative to the tree's directory and refuses
// one that is empty, absolute, names the directory itself or leaves it.
// what names the path in messages ("kernel", "initrd").
func inTree(what, p string) (string, error) {
	switch {
	case p == "":
		return "", fmt.Errorf("empty %s path", what)
	case strings.HasPrefix(p, "/"):
		return "", fmt.Errorf("%s %s is an absolute path, outside the kexec tree; name it relative to the tree (or ${SCRIPT_DIR}/NAME in kexec-boot)", what, p)
	}
	c := path.Clean(p)
	switch {
	case c == ".":
		return "", fmt.Errorf("%s %s names the tree's directory, not a file", what, p)
	case c == ".." || strings.HasPrefix(c, "../"):
		return "", fmt.Errorf("%s %s leaves the kexec tree; all files must be inside it", what, p)
	}
	return c, nil
}

// CheckNames refuses a tree that gives one file two roles: a kernel or
// initrd that is one of the scripts read (scripts: kexec-boot, or
// netboot.ipxe and variables.ipxe), one of the files that verify the tree
// (verifiers: SHA256SUMS and its signature), or the kernel as the initrd.
// A tree is assembled from each name once, so that what was parsed and
// hashed is what is loaded.
func (t Tree) CheckNames(scripts, verifiers []string) error {
	seen := map[string]string{}
	for _, s := range scripts {
		seen[s] = "the script " + s
	}
	for _, v := range verifiers {
		seen[v] = "the checksums file " + v
	}
	for _, f := range []struct{ what, name string }{{"kernel", t.Kernel}, {"initrd", t.Initrd}} {
		if f.name == "" {
			continue
		}
		if role := seen[f.name]; role != "" {
			return fmt.Errorf("%s names %s as its %s, which is already %s: each file of a tree has one role", t.From, f.name, f.what, role)
		}
		seen[f.name] = "the " + f.what
	}
	return nil
}
