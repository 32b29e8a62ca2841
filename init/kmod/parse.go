package kmod

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"unicode"
)

// maxLine bounds one line of an index file; the longest modules.dep line
// of a Debian kernel is a few KiB.
const maxLine = 1 << 20

// eachLine calls fn for every line that is neither blank nor a # comment,
// with surrounding white space removed, and prefixes fn's error with the
// line number.
func eachLine(r io.Reader, fn func(line string) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if err := fn(line); err != nil {
			return fmt.Errorf("line %d: %v", n, err)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("after line %d: %v", n, err)
	}
	return nil
}

// ParseDep parses modules.dep: "PATH: DEP_PATH ...", or "PATH:" for a
// module that needs nothing. A module listed twice is an error.
func ParseDep(r io.Reader) ([]Module, error) {
	var mods []Module
	seen := make(map[string]string) // name -> path
	err := eachLine(r, func(line string) error {
		p, rest, ok := strings.Cut(line, ":")
		if !ok {
			return fmt.Errorf("%q has no ':' after the module path", line)
		}
		p = strings.TrimSpace(p)
		if strings.IndexFunc(p, unicode.IsSpace) >= 0 {
			return fmt.Errorf("module path %q contains white space", p)
		}
		name, err := nameFromPath(p)
		if err != nil {
			return err
		}
		if prev, dup := seen[name]; dup {
			return fmt.Errorf("module %s listed twice (%s and %s)", name, prev, p)
		}
		seen[name] = p
		m := Module{Name: name, Path: p}
		for _, dp := range strings.Fields(rest) {
			dn, err := nameFromPath(dp)
			if err != nil {
				return fmt.Errorf("dependency of %s: %v", name, err)
			}
			m.Deps = append(m.Deps, dn)
			m.depPaths = append(m.depPaths, dp)
		}
		mods = append(mods, m)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return mods, nil
}

// ParseSoftdep parses modules.softdep: "softdep MODULE pre: A B post: C".
// pre: and post: may come in any order, each or both. As in modprobe, names
// before the first pre: or post: are ignored (Debian 6.1 has
// "softdep cifs gcm" from a MODULE_SOFTDEP without "pre:").
func ParseSoftdep(r io.Reader) ([]Softdep, error) {
	var sds []Softdep
	err := eachLine(r, func(line string) error {
		f := strings.Fields(line)
		if f[0] != "softdep" {
			return fmt.Errorf("%q: want \"softdep MODULE pre: ... post: ...\"", line)
		}
		if len(f) < 2 || f[1] == "pre:" || f[1] == "post:" {
			return fmt.Errorf("%q: softdep without a module name", line)
		}
		sd := Softdep{Module: normalize(f[1])}
		var list *[]string // nil until pre: or post:
		for _, w := range f[2:] {
			switch w {
			case "pre:":
				list = &sd.Pre
			case "post:":
				list = &sd.Post
			default:
				if list != nil {
					*list = append(*list, w)
				}
			}
		}
		sds = append(sds, sd)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return sds, nil
}

// ParseAlias parses modules.alias (and modules.builtin.alias):
// "alias PATTERN MODULE".
func ParseAlias(r io.Reader) ([]Alias, error) {
	var as []Alias
	err := eachLine(r, func(line string) error {
		f := strings.Fields(line)
		if len(f) != 3 || f[0] != "alias" {
			return fmt.Errorf("%q: want \"alias PATTERN MODULE\"", line)
		}
		as = append(as, Alias{Pattern: f[1], Module: normalize(f[2])})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return as, nil
}

// ParseBuiltin parses modules.builtin, one path per line
// (kernel/crypto/sha256_generic.ko), and returns the paths.
func ParseBuiltin(r io.Reader) ([]string, error) {
	var paths []string
	err := eachLine(r, func(line string) error {
		if strings.IndexFunc(line, unicode.IsSpace) >= 0 {
			return fmt.Errorf("%q: want one module path", line)
		}
		if _, err := nameFromPath(line); err != nil {
			return err
		}
		paths = append(paths, line)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return paths, nil
}

// formatDep writes mods in modules.dep syntax; a module without
// dependencies is "PATH:" with no trailing space.
func formatDep(w io.Writer, mods []Module) error {
	bw := bufio.NewWriter(w)
	for _, m := range mods {
		bw.WriteString(m.Path)
		bw.WriteString(":")
		for _, dp := range m.depPaths {
			bw.WriteString(" ")
			bw.WriteString(dp)
		}
		bw.WriteString("\n")
	}
	return bw.Flush()
}

// formatSoftdep writes sds in modules.softdep syntax, leaving out empty
// pre: and post: lists.
func formatSoftdep(w io.Writer, sds []Softdep) error {
	bw := bufio.NewWriter(w)
	for _, sd := range sds {
		bw.WriteString("softdep ")
		bw.WriteString(sd.Module)
		if len(sd.Pre) > 0 {
			bw.WriteString(" pre: ")
			bw.WriteString(strings.Join(sd.Pre, " "))
		}
		if len(sd.Post) > 0 {
			bw.WriteString(" post: ")
			bw.WriteString(strings.Join(sd.Post, " "))
		}
		bw.WriteString("\n")
	}
	return bw.Flush()
}
