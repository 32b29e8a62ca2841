package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/homestaker/homestaker-boot/init/kmod"
)

// firmwareReport is what stageFirmware carried and what it could not.
type firmwareReport struct {
	dir      string // -firmware, as found ("" when not given)
	declared int    // distinct files the carried modules declare
	carried  []string
	bytes    int64
	missing  []missingFirmware // declared, not in dir; sorted by file
}

type missingFirmware struct {
	file    string
	modules []string // the carried modules that declare it
}

// firmwareSuffixes are the names the kernel's firmware loader tries for
// one request, in its order: the file itself, then compressed copies
// (CONFIG_FW_LOADER_COMPRESS_XZ and _ZSTD; Debian's kernel has XZ).
var firmwareSuffixes = []string{"", ".xz", ".zst"}

// stageFirmware copies into staging's lib/firmware the files that mods
// (in modulesDir) declare with MODULE_FIRMWARE, the list `modinfo -F
// firmware` prints, taken from fwDir: a directory laid out as
// /lib/firmware, or a root that holds lib/firmware (a Debian firmware
// package unpacked with dpkg-deb -x). A declared file fwDir lacks is
// reported, not an error: most drivers ask for firmware only for some
// chips, and many run without it. With fwDir empty nothing is copied and
// every declared file counts as missing.
func stageFirmware(modulesDir string, mods []kmod.Module, fwDir, staging string) (firmwareReport, error) {
	var rep firmwareReport
	byFile := map[string][]string{} // declared file -> modules
	var files []string
	for _, m := range mods {
		fws, err := modinfo(filepath.Join(modulesDir, m.Path), "firmware")
		if err != nil {
			return rep, fmt.Errorf("firmware declared by %s: %v", m.Name, err)
		}
		for _, fw := range fws {
			if _, ok := byFile[fw]; !ok {
				files = append(files, fw)
			}
			if !slices.Contains(byFile[fw], m.Name) {
				byFile[fw] = append(byFile[fw], m.Name)
			}
		}
	}
	slices.Sort(files)
	rep.declared = len(files)
	if fwDir != "" {
		st, err := os.Stat(fwDir)
		if err != nil {
			return rep, fmt.Errorf("-firmware: %v", err)
		}
		if !st.IsDir() {
			return rep, fmt.Errorf("-firmware: %s is not a directory (want one laid out as /lib/firmware)", fwDir)
		}
		if st, err := os.Stat(filepath.Join(fwDir, "lib", "firmware")); err == nil && st.IsDir() {
			fwDir = filepath.Join(fwDir, "lib", "firmware")
		}
		rep.dir = fwDir
	}
	for _, fw := range files {
		name, n, err := copyFirmware(fwDir, fw, filepath.Join(staging, "lib", "firmware"))
		if err != nil {
			return rep, err
		}
		if name == "" {
			rep.missing = append(rep.missing, missingFirmware{file: fw, modules: byFile[fw]})
			continue
		}
		rep.carried = append(rep.carried, name)
		rep.bytes += n
	}
	return rep, nil
}

// copyFirmware copies the first of fw's names (firmwareSuffixes) that
// exists in dir to dst and returns that name and its size; "" when none
// does or dir is "". A name that would leave dir (.., an absolute path)
// is an error naming it.
func copyFirmware(dir, fw, dst string) (string, int64, error) {
	if !filepath.IsLocal(fw) {
		return "", 0, fmt.Errorf("firmware: a module declares %q, which is not a path inside /lib/firmware", fw)
	}
	if dir == "" {
		return "", 0, nil
	}
	for _, suf := range firmwareSuffixes {
		name := fw + suf
		// os.Open follows symbolic links, as the kernel's loader does:
		// Debian's firmware packages link some names to others.
		src, err := os.Open(filepath.Join(dir, name))
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return "", 0, fmt.Errorf("-firmware: %v", err)
		}
		defer src.Close()
		if st, err := src.Stat(); err != nil || !st.Mode().IsRegular() {
			continue // a directory of that name is no firmware file
		}
		b, err := io.ReadAll(src)
		if err != nil {
			return "", 0, fmt.Errorf("-firmware: reading %s: %v", filepath.Join(dir, name), err)
		}
		if err := writeFile(filepath.Join(dst, name), b); err != nil {
			return "", 0, err
		}
		return name, int64(len(b)), nil
	}
	return "", 0, nil
}

// print writes the firmware lines of the builder's summary.
func (r firmwareReport) print(w io.Writer) {
	if r.declared == 0 {
		return
	}
	if r.dir == "" {
		fmt.Fprintf(w, "  firmware: none carried (no -firmware DIR); the carried modules declare %d files\n", r.declared)
		return
	}
	fmt.Fprintf(w, "  firmware (%d of %d declared files, %s) from %s\n", len(r.carried), r.declared, size(r.bytes), r.dir)
	if len(r.missing) == 0 {
		return
	}
	fmt.Fprintf(w, "  firmware: %d declared files not in %s (the drivers that need them will not work on the chips that need them):\n", len(r.missing), r.dir)
	for _, m := range r.missing {
		fmt.Fprintf(w, "    %s (%s)\n", m.file, strings.Join(m.modules, " "))
	}
}
