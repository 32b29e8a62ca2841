package kmod

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
)

// Index is the parsed depmod index of one modules directory
// (lib/modules/VERSION).
type Index struct {
	dir      string
	mods     []Module       // modules.dep order
	byName   map[string]int // index into mods
	softdeps map[string]Softdep
	aliases  []Alias             // every modules.alias line
	exact    map[string][]string // exact alias, '-' folded -> module names, file order
	builtins []string            // modules.builtin paths
	builtin  map[string]bool     // names of built-in modules
	// builtinAlias holds exact aliases of built-in modules (modules.builtin.alias,
	// when the text file exists), '-' folded.
	builtinAlias map[string]bool
}

// ReadIndex reads modules.dep from dir, and modules.softdep, modules.alias,
// modules.builtin and modules.builtin.alias when they exist.
func ReadIndex(dir string) (*Index, error) {
	return readIndex(os.DirFS(dir), dir)
}

// readIndex reads the index files from fsys; dir names it in messages and
// is where module paths are relative to.
func readIndex(fsys fs.FS, dir string) (*Index, error) {
	ix := &Index{
		dir:          dir,
		byName:       make(map[string]int),
		softdeps:     make(map[string]Softdep),
		exact:        make(map[string][]string),
		builtin:      make(map[string]bool),
		builtinAlias: make(map[string]bool),
	}
	if err := parseFile(fsys, dir, "modules.dep", false, func(r io.Reader) (err error) {
		ix.mods, err = ParseDep(r)
		return err
	}); err != nil {
		return nil, err
	}
	for i, m := range ix.mods {
		ix.byName[m.Name] = i
	}
	if err := parseFile(fsys, dir, "modules.softdep", true, func(r io.Reader) error {
		sds, err := ParseSoftdep(r)
		for _, sd := range sds {
			// modprobe reads several lines for one module as one list.
			merged := ix.softdeps[sd.Module]
			merged.Module = sd.Module
			merged.Pre = append(merged.Pre, sd.Pre...)
			merged.Post = append(merged.Post, sd.Post...)
			ix.softdeps[sd.Module] = merged
		}
		return err
	}); err != nil {
		return nil, err
	}
	if err := parseFile(fsys, dir, "modules.alias", true, func(r io.Reader) (err error) {
		ix.aliases, err = ParseAlias(r)
		for _, a := range ix.aliases {
			if isGlob(a.Pattern) {
				continue
			}
			k := normalize(a.Pattern)
			if !slices.Contains(ix.exact[k], a.Module) {
				ix.exact[k] = append(ix.exact[k], a.Module)
			}
		}
		return err
	}); err != nil {
		return nil, err
	}
	if err := parseFile(fsys, dir, "modules.builtin", true, func(r io.Reader) (err error) {
		ix.builtins, err = ParseBuiltin(r)
		for _, p := range ix.builtins {
			name, _ := nameFromPath(p) // ParseBuiltin checked it
			ix.builtin[name] = true
		}
		return err
	}); err != nil {
		return nil, err
	}
	if err := parseFile(fsys, dir, "modules.builtin.alias", true, func(r io.Reader) error {
		as, err := ParseAlias(r)
		for _, a := range as {
			if !isGlob(a.Pattern) {
				ix.builtinAlias[normalize(a.Pattern)] = true
			}
		}
		return err
	}); err != nil {
		return nil, err
	}
	return ix, nil
}

// parseFile opens name in fsys (dir) and hands it to parse; a missing optional file
// is not an error.
func parseFile(fsys fs.FS, dir, name string, optional bool, parse func(io.Reader) error) error {
	p := filepath.Join(dir, name)
	f, err := fsys.Open(name)
	if optional && errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return fmt.Errorf("open %s: %v", p, err)
	}
	defer f.Close()
	if err := parse(f); err != nil {
		return fmt.Errorf("%s: %v", p, err)
	}
	return nil
}

// module returns the module named name ('-' folded), if modules.dep has it.
func (ix *Index) module(name string) (Module, bool) {
	i, ok := ix.byName[name]
	if !ok {
		return Module{}, false
	}
	return ix.mods[i], true
}

// lookup resolves a name as modprobe does: a module of that name, then a
// built-in module, then an exact alias. It returns the loadable modules
// that provide name (every provider of an alias, as crc32c_generic and
// crc32c_intel for crc32c), or builtin when the kernel already has it.
func (ix *Index) lookup(name string) (mods []string, builtin, ok bool) {
	n := normalize(name)
	if _, ok := ix.byName[n]; ok {
		return []string{n}, false, true
	}
	if ix.builtin[n] {
		return nil, true, true
	}
	for _, m := range ix.exact[n] {
		switch {
		case ix.builtin[m]:
			builtin = true
		case ix.has(m):
			mods = append(mods, m)
		}
	}
	if ix.builtinAlias[n] {
		builtin = true
	}
	return mods, builtin, len(mods) > 0 || builtin
}

func (ix *Index) has(name string) bool {
	_, ok := ix.byName[name]
	return ok
}

// softdepNames returns the loadable modules that name's softdep lines ask
// for before (pre) and after (post) it. Names that resolve to nothing
// loadable are left out, as modprobe does.
func (ix *Index) softdepNames(name string) (pre, post []string) {
	sd, ok := ix.softdeps[name]
	if !ok {
		return nil, nil
	}
	resolve := func(names []string) []string {
		var out []string
		for _, s := range names {
			mods, _, _ := ix.lookup(s)
			for _, m := range mods {
				if m != name && !slices.Contains(out, m) {
					out = append(out, m)
				}
			}
		}
		return out
	}
	return resolve(sd.Pre), resolve(sd.Post)
}

// AddSoftdep merges sd into the index's soft dependencies, as a softdep
// line of /etc/modprobe.d adds to modules.softdep: Closure follows it and
// WriteTrimmed writes it, so the init loads its modules too.
func (ix *Index) AddSoftdep(sd Softdep) {
	name := normalize(sd.Module)
	merged := ix.softdeps[name]
	merged.Module = name
	merged.Pre = append(merged.Pre, sd.Pre...)
	merged.Post = append(merged.Post, sd.Post...)
	ix.softdeps[name] = merged
}

// Has reports whether name ('-' or '_' alike) is a loadable module of
// the index (modules.dep lists it).
func (ix *Index) Has(name string) bool {
	return ix.has(normalize(name))
}
