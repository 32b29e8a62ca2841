package kmod

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Closure returns the modules that wanted need, prerequisites first (ties
// by name): each wanted module, or every module providing a wanted alias
// (crc32c: crc32c_generic and crc32c_intel), with their hard dependencies
// and their softdeps, pre: and post:, recursively. '-' and '_' are the
// same in names. Built-in modules need no file and are left out; a softdep
// that names nothing loadable is ignored, as modprobe does. A wanted name
// that is no module, alias or built-in module is an error naming it.
func (ix *Index) Closure(wanted []string) ([]Module, error) {
	var want, unknown []string
	for _, w := range wanted {
		mods, _, ok := ix.lookup(w)
		if !ok {
			unknown = append(unknown, fmt.Sprintf("%q", w))
			continue
		}
		want = append(want, mods...)
	}
	if len(unknown) > 0 {
		return nil, fmt.Errorf("kernel modules %s: no such module, alias or built-in module in %s (modules.dep, modules.alias, modules.builtin); check the names against that kernel version",
			strings.Join(unknown, ", "), ix.dir)
	}

	names := ix.closure(want, nil)
	for _, n := range names {
		m, _ := ix.module(n)
		for i, d := range m.Deps {
			if !ix.has(d) {
				return nil, fmt.Errorf("%s: %s needs %s, which has no line of its own; run depmod again",
					filepath.Join(ix.dir, "modules.dep"), n, m.depPaths[i])
			}
		}
	}
	p := ix.plan(names, "")
	if len(p.cyclic) > 0 {
		return nil, fmt.Errorf("%s: dependency cycle in or before %s",
			filepath.Join(ix.dir, "modules.dep"), strings.Join(p.cyclic, ", "))
	}
	out := make([]Module, 0, len(p.order))
	for _, n := range p.order {
		m, _ := ix.module(n)
		out = append(out, m)
	}
	return out, nil
}

// closure returns, sorted, the modules of want with their hard
// dependencies and softdeps, recursively, leaving out names that are no
// module and those in tried: their dependencies were seen to then.
func (ix *Index) closure(want []string, tried map[string]ModuleResult) []string {
	sel := make(map[string]bool)
	var add func(string)
	add = func(n string) {
		m, ok := ix.module(n)
		if _, done := tried[n]; sel[n] || done || !ok {
			return
		}
		sel[n] = true
		for _, d := range m.Deps {
			add(d)
		}
		pre, post := ix.softdepNames(n)
		for _, q := range append(pre, post...) {
			add(q)
		}
	}
	for _, n := range want {
		add(n)
	}
	out := make([]string, 0, len(sel))
	for n := range sel {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// WriteTrimmed writes into dstDir an index for mods only (normally what
// Closure returned): modules.dep and modules.softdep for those modules,
// softdeps resolved to module names, the modules.alias lines that name
// one of them, and modules.builtin as it is. It does not copy module
// files. A module that needs one outside mods is an error.
func (ix *Index) WriteTrimmed(dstDir string, mods []Module) error {
	sel := make(map[string]bool, len(mods))
	var dep []Module
	for _, m := range mods {
		im, ok := ix.module(normalize(m.Name))
		if !ok {
			return fmt.Errorf("trimmed modules index: %s is not a module of %s", m.Name, ix.dir)
		}
		if !sel[im.Name] {
			sel[im.Name] = true
			dep = append(dep, im)
		}
	}
	var soft []Softdep
	for _, m := range dep {
		for _, d := range m.Deps {
			if !sel[d] {
				return fmt.Errorf("trimmed modules index: %s needs %s, which is not among the modules to write", m.Name, d)
			}
		}
		pre, post := ix.softdepNames(m.Name)
		sd := Softdep{Module: m.Name}
		for _, q := range pre {
			if sel[q] {
				sd.Pre = append(sd.Pre, q)
			}
		}
		for _, q := range post {
			if sel[q] {
				sd.Post = append(sd.Post, q)
			}
		}
		if len(sd.Pre)+len(sd.Post) > 0 {
			soft = append(soft, sd)
		}
	}

	var depBuf, softBuf, aliasBuf, builtinBuf bytes.Buffer
	formatDep(&depBuf, dep)
	formatSoftdep(&softBuf, soft)
	for _, a := range ix.aliases {
		if sel[a.Module] {
			fmt.Fprintf(&aliasBuf, "alias %s %s\n", a.Pattern, a.Module)
		}
	}
	for _, p := range ix.builtins {
		fmt.Fprintln(&builtinBuf, p)
	}
	if err := os.MkdirAll(dstDir, 0o755); err != nil {
		return fmt.Errorf("trimmed modules index: %v", err)
	}
	for _, f := range []struct {
		name string
		data []byte
	}{
		{"modules.dep", depBuf.Bytes()},
		{"modules.softdep", softBuf.Bytes()},
		{"modules.alias", aliasBuf.Bytes()},
		{"modules.builtin", builtinBuf.Bytes()},
	} {
		if err := os.WriteFile(filepath.Join(dstDir, f.name), f.data, 0o644); err != nil {
			return fmt.Errorf("trimmed modules index: %v", err)
		}
	}
	return nil
}
