package kmod

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// debianModules returns lib/modules/VERSION of the Debian kernel package
// that the build extracts into .cache/kernel, or skips the test.
func debianModules(t *testing.T) string {
	deps, _ := filepath.Glob("../../.cache/kernel/*/lib/modules/*/modules.dep")
	if len(deps) == 0 {
		t.Skip("no Debian kernel in .cache/kernel (the build fetches one)")
	}
	return filepath.Dir(deps[0])
}

// The modules the initramfs carries: NICs, disks, btrfs, tun.
var bootModules = []string{
	"virtio_net", "virtio_blk", "virtio_pci", "virtio_rng", "e1000", "e1000e",
	"igb", "ixgbe", "r8169", "nvme", "ahci", "sd_mod", "usb-storage", "btrfs", "tun",
}

func TestDebianClosure(t *testing.T) {
	dir := debianModules(t)
	ix, err := ReadIndex(dir)
	if err != nil {
		t.Fatal(err)
	}
	mods, err := ix.Closure(bootModules)
	if err != nil {
		t.Fatal(err)
	}
	got := names(mods)
	t.Logf("%d modules: %q", len(got), got)
	for _, want := range append(bootModules, "libcrc32c", "crc32c_generic", "realtek", "xor", "raid6_pq") {
		if !slices.Contains(got, normalize(want)) {
			t.Errorf("closure lacks %s", want)
		}
	}
	for _, m := range mods {
		if _, err := os.Stat(filepath.Join(dir, m.Path)); err != nil {
			t.Error(err)
		}
	}

	// The trimmed index loads in order, virtio_rng right after its own
	// dependencies.
	dst := t.TempDir()
	if err := ix.WriteTrimmed(dst, mods); err != nil {
		t.Fatal(err)
	}
	tix, err := ReadIndex(dst)
	if err != nil {
		t.Fatal(err)
	}
	if len(tix.mods) != len(mods) {
		t.Fatalf("trimmed modules.dep has %d modules, want %d", len(tix.mods), len(mods))
	}
	k := newFakeKernel(t, tix)
	k.delay = 0
	ancestors := map[string]bool{"virtio_rng": true}
	for _, d := range ix.mods[ix.byName["virtio_rng"]].Deps {
		ancestors[d] = true
	}
	for _, m := range tix.mods {
		if !ancestors[m.Name] {
			k.mustFollow(m.Name, "virtio_rng")
		}
	}
	for _, pre := range []string{"crc32c_generic", "crc32c_intel", "sha256_ssse3", "blake2b_generic", "xxhash_generic"} {
		k.mustFollow("btrfs", pre)
	}
	k.mustFollow("r8169", "realtek")
	if _, err := load(context.Background(), tix, k.load, t.Logf); err != nil {
		t.Fatal(err)
	}
	if len(k.started) != len(mods) {
		t.Errorf("loaded %d modules, want %d", len(k.started), len(mods))
	}
}

func TestDebianWholeIndex(t *testing.T) {
	ix, err := ReadIndex(debianModules(t))
	if err != nil {
		t.Fatal(err)
	}
	all := make([]string, len(ix.mods))
	for i, m := range ix.mods {
		all[i] = m.Name
	}
	p := ix.plan(all, firstModule)
	if len(p.cyclic) > 0 || len(p.order) != len(all) {
		t.Errorf("plan of all %d modules: %d ordered, cyclic %q", len(all), len(p.order), p.cyclic)
	}
	if _, err := ix.Closure(all); err != nil {
		t.Error(err)
	}
}
