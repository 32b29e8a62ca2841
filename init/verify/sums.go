// Package verify decides whether a next-stage kexec tree may boot: its
// SHA256SUMS must list every file the tree uses with the right digest and,
// under homestaker.verify=signature, carry a minisign signature by a
// trusted key. Parsing is pure; hashing reads the caller's open files.
package verify

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"path"
	"sort"
	"strings"
)

// Sums is a parsed SHA256SUMS: file name (relative to the tree) to digest.
type Sums map[string][32]byte

// SumsFile and SigFile are the names a tree's checksums and their
// signature have beside the files they cover.
const (
	SumsFile = "SHA256SUMS"
	SigFile  = "SHA256SUMS.minisig"
)

// SumsError says which line of a SHA256SUMS is wrong and why.
type SumsError struct {
	File string // as passed to ParseSums
	Line int    // 1-based
	Msg  string
}

func (e *SumsError) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg) }

// ParseSums parses what sha256sum writes: "<64 hex>  <name>" (text mode)
// or "<64 hex> *<name>" (binary mode), one file a line. Blank lines and
// CRLF line ends are accepted; sha256sum has no comments, so a '#' line is
// an error like any other. Names must stay inside the tree: not absolute,
// no ".." component. name is used in errors ("SHA256SUMS").
func ParseSums(name string, data []byte) (Sums, error) {
	s := Sums{}
	lineOf := map[string]int{}
	for n, line := range bytes.Split(data, []byte("\n")) {
		n++
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		fail := func(format string, args ...any) (Sums, error) {
			return nil, &SumsError{File: name, Line: n, Msg: fmt.Sprintf(format, args...)}
		}
		if line[0] == '\\' {
			// sha256sum escapes a name holding a backslash or newline;
			// no kexec tree needs one.
			return fail("escaped file name (a name with a backslash or newline); a kexec tree's files have plain names")
		}
		if len(line) < 64+2 || line[64] != ' ' || (line[65] != ' ' && line[65] != '*') {
			return fail("%q: expected a sha256sum line, 64 hex digits, two spaces (or a space and *) and a file name", quote(line))
		}
		var sum [32]byte
		if _, err := hex.Decode(sum[:], line[:64]); err != nil {
			return fail("%q is not a sha256 digest: expected 64 hex digits", line[:64])
		}
		file := string(line[66:])
		clean, err := treeName(file)
		if err != nil {
			return fail("%v", err)
		}
		if first, dup := lineOf[clean]; dup {
			return fail("%s is listed twice (first on line %d)", file, first)
		}
		lineOf[clean] = n
		s[clean] = sum
	}
	return s, nil
}

// treeName cleans a name from SHA256SUMS and refuses one that could leave
// the tree or names no file.
func treeName(f string) (string, error) {
	switch {
	case f == "":
		return "", fmt.Errorf("empty file name")
	case strings.HasPrefix(f, "/"):
		return "", fmt.Errorf("%s is an absolute path; names are relative to the tree", f)
	case strings.ContainsRune(f, 0):
		return "", fmt.Errorf("%q: NUL in a file name", f)
	}
	for _, el := range strings.Split(f, "/") {
		if el == ".." {
			return "", fmt.Errorf("%s leaves the tree (..); names are relative to the tree", f)
		}
	}
	c := path.Clean(f)
	if c == "." {
		return "", fmt.Errorf("%s names the tree's directory, not a file", f)
	}
	return c, nil
}

// quote shortens a line for an error message.
func quote(line []byte) string {
	const max = 100
	if len(line) > max {
		return string(line[:max-3]) + "..."
	}
	return string(line)
}

// FormatSums writes s as sha256sum does in text mode, sorted by name, so
// that `sha256sum -c SHA256SUMS` checks the tree.
func FormatSums(s Sums) []byte {
	names := make([]string, 0, len(s))
	for n := range s {
		names = append(names, n)
	}
	sort.Strings(names)
	var b bytes.Buffer
	for _, n := range names {
		d := s[n]
		b.WriteString(hex.EncodeToString(d[:]))
		b.WriteString("  ")
		b.WriteString(n)
		b.WriteByte('\n')
	}
	return b.Bytes()
}
