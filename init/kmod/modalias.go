package kmod

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// deviceAlias is one modules.alias glob ready for matching modaliases.
type deviceAlias struct {
	pattern string // folded by foldAlias
	prefix  string // pattern up to its first metacharacter: a cheap first test
	module  string
}

// deviceAliases returns the modules.alias lines whose module modules.dep
// lists: aliases of built-in or absent modules load nothing.
func (ix *Index) deviceAliases() []deviceAlias {
	var out []deviceAlias
	for _, a := range ix.aliases {
		if !ix.has(a.Module) {
			continue
		}
		p := foldAlias(a.Pattern)
		prefix := p
		if i := strings.IndexAny(p, `*?[\`); i >= 0 {
			prefix = p[:i]
		}
		out = append(out, deviceAlias{pattern: p, prefix: prefix, module: a.Module})
	}
	return out
}

// matchModalias returns the modules of aliases whose pattern matches the
// device's modalias, in modules.alias order, each once.
func matchModalias(aliases []deviceAlias, modalias string) []string {
	s := foldAlias(modalias)
	var out []string
	for _, a := range aliases {
		if strings.HasPrefix(s, a.prefix) && matchGlob(a.pattern, s) && !slices.Contains(out, a.module) {
			out = append(out, a.module)
		}
	}
	return out
}

// foldAlias folds '-' to '_' outside [...] sets, as kmod's alias_normalize
// does to both the modalias and the modules.alias pattern before matching.
func foldAlias(s string) string {
	if !strings.Contains(s, "-") {
		return s
	}
	b := []byte(s)
	inSet := false
	for i, c := range b {
		switch {
		case c == '[':
			inSet = true
		case c == ']':
			inSet = false
		case c == '-' && !inSet:
			b[i] = '_'
		}
	}
	return string(b)
}

// matchGlob reports whether s matches pattern as fnmatch(3) without flags
// does, which is how modprobe matches modaliases: '*' is any run of bytes,
// '?' one byte, [...] one byte of a set (a-z ranges; '!' or '^' first
// negates; ']' first is a member), '\' quotes the byte after it. Unlike
// path.Match, '/' is an ordinary byte, and a '[' without its ']' is a
// literal '['. Character classes ([:digit:]) are not supported: depmod
// never writes them.
func matchGlob(pattern, s string) bool {
	p, i := 0, 0
	// After a mismatch, the last '*' takes one more byte of s and matching
	// resumes behind it; earlier stars need no retry.
	star, starI := -1, 0
	for i < len(s) {
		if p < len(pattern) && pattern[p] == '*' {
			star, starI = p, i
			p++
			continue
		}
		if p < len(pattern) {
			if n, ok := matchOne(pattern[p:], s[i]); ok {
				p += n
				i++
				continue
			}
		}
		if star < 0 {
			return false
		}
		starI++
		p, i = star+1, starI
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// matchOne matches c against the element pattern starts with (anything
// but '*') and returns the element's length.
func matchOne(pattern string, c byte) (n int, ok bool) {
	switch pattern[0] {
	case '?':
		return 1, true
	case '\\':
		if len(pattern) == 1 {
			return 1, c == '\\'
		}
		return 2, pattern[1] == c
	case '[':
		if n, ok, closed := matchSet(pattern, c); closed {
			return n, ok
		}
	}
	return 1, pattern[0] == c
}

// matchSet matches c against the [...] set pattern starts with. closed is
// false when the set has no closing ']'.
func matchSet(pattern string, c byte) (n int, ok, closed bool) {
	i := 1
	negate := i < len(pattern) && (pattern[i] == '!' || pattern[i] == '^')
	if negate {
		i++
	}
	// member returns the byte at i, unquoted, and the index after it.
	member := func(i int) (byte, int) {
		if pattern[i] == '\\' && i+1 < len(pattern) {
			return pattern[i+1], i + 2
		}
		return pattern[i], i + 1
	}
	first := true
	for i < len(pattern) {
		if pattern[i] == ']' && !first {
			return i + 1, ok != negate, true
		}
		first = false
		var lo, hi byte
		lo, i = member(i)
		hi = lo
		if i+1 < len(pattern) && pattern[i] == '-' && pattern[i+1] != ']' {
			hi, i = member(i + 1)
		}
		if lo <= c && c <= hi {
			ok = true
		}
	}
	return 0, false, false
}

// modaliases returns the distinct contents of the files named modalias
// under root (/sys/devices), sorted. Symbolic links are not followed: the
// /sys/bus and /sys/class views link back into /sys/devices. A directory
// or file that cannot be read is skipped; only an unreadable root is an
// error.
func modaliases(root string) ([]string, error) {
	seen := make(map[string]bool)
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == root {
				return err
			}
			return nil
		}
		if d.Name() != "modalias" || !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(p)
		if s := strings.TrimSpace(string(b)); err == nil && s != "" {
			seen[s] = true
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(seen))
	for s := range seen {
		out = append(out, s)
	}
	slices.Sort(out)
	return out, nil
}

// Modaliases returns the distinct modaliases of the devices under root
// (/sys/devices), sorted; see modaliases.
func Modaliases(root string) ([]string, error) {
	return modaliases(root)
}

// MatchModaliases returns the loadable modules whose modules.alias lines
// match one of devs, sorted, each once: the drivers coldplug would load
// for those devices, without their dependencies.
func (ix *Index) MatchModaliases(devs []string) []string {
	aliases := ix.deviceAliases()
	var out []string
	for _, d := range devs {
		for _, m := range matchModalias(aliases, d) {
			if !slices.Contains(out, m) {
				out = append(out, m)
			}
		}
	}
	slices.Sort(out)
	return out
}
