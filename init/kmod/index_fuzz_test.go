package kmod

import (
	"strings"
	"testing"
)

// FuzzParseAliasBuiltin feeds modules.alias and modules.builtin, which the
// initramfs carries from whatever kernel it was built for: an accepted
// alias names a normalized module and a non-empty pattern, an accepted
// builtin path names a module.
func FuzzParseAliasBuiltin(f *testing.F) {
	f.Add("alias pci:v00001AF4d00001000sv*sd*bc*sc*i* virtio_net\nalias fs-btrfs btrfs\n# comment\n\n", "kernel/crypto/sha256_generic.ko\nkernel/fs/ext4/ext4.ko\n")
	f.Add("alias  x  y-z\n", "a b.ko\n")
	f.Add("alias a\n", ".ko\n")
	f.Fuzz(func(t *testing.T, alias, builtin string) {
		if as, err := ParseAlias(strings.NewReader(alias)); err == nil {
			for _, a := range as {
				if a.Pattern == "" || a.Module == "" || strings.Contains(a.Module, "-") || strings.ContainsAny(a.Pattern+a.Module, " \t\n") {
					t.Fatalf("alias %+v from %q", a, alias)
				}
			}
		}
		if paths, err := ParseBuiltin(strings.NewReader(builtin)); err == nil {
			for _, p := range paths {
				if _, err := nameFromPath(p); err != nil || strings.ContainsAny(p, " \t\n") {
					t.Fatalf("builtin %q from %q: %v", p, builtin, err)
				}
			}
		}
	})
}
