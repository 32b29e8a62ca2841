// Package kmod reads the depmod index of a kernel's modules directory
// (modules.dep, modules.softdep, modules.alias, modules.builtin). The
// initramfs builder uses it to pick the modules a boot needs and write a
// trimmed index; the init uses it to load them, all or those the devices
// present need, in dependency order, without udev or a modprobe binary.
package kmod

import (
	"fmt"
	"path"
	"strings"
)

// Module is one loadable module as modules.dep lists it.
type Module struct {
	Name string   // module name, '-' folded to '_' as the kernel does
	Path string   // file relative to the modules directory, as in modules.dep
	Deps []string // names of the modules it needs (hard dependencies), in modules.dep order

	depPaths []string // Deps as modules.dep spells them, for writing it back
}

// Softdep is one "softdep MODULE pre: ... post: ..." line. Pre and Post
// hold module names or aliases as written.
type Softdep struct {
	Module    string
	Pre, Post []string
}

// Alias is one "alias PATTERN MODULE" line of modules.alias.
type Alias struct {
	Pattern string // as written; may be a glob (pci:v00008086d*...)
	Module  string
}

// moduleSuffixes are the file endings depmod lists, the compressed ones
// loaded with MODULE_INIT_COMPRESSED_FILE so that the kernel decompresses.
var moduleSuffixes = []string{".ko", ".ko.xz", ".ko.zst", ".ko.gz"}

// compressed reports whether the kernel must decompress the module file.
func compressed(p string) bool {
	return !strings.HasSuffix(p, ".ko")
}

// nameFromPath gives the module name of a modules.dep path:
// kernel/arch/x86/crypto/crc32c-intel.ko.xz is crc32c_intel.
func nameFromPath(p string) (string, error) {
	base := path.Base(p)
	for _, suf := range moduleSuffixes {
		if name, ok := strings.CutSuffix(base, suf); ok && name != "" {
			return normalize(name), nil
		}
	}
	return "", fmt.Errorf("%q is not a module file (want NAME.ko, .ko.xz, .ko.zst or .ko.gz)", p)
}

// normalize folds '-' to '_': the kernel and modprobe treat module names
// (and modprobe aliases) that way, so usb-storage is usb_storage.
func normalize(name string) string {
	return strings.ReplaceAll(name, "-", "_")
}

// isGlob reports whether an alias pattern has fnmatch metacharacters.
// Only exact aliases are resolved here; globs are for device matching.
func isGlob(pattern string) bool {
	return strings.ContainsAny(pattern, "*?[")
}
