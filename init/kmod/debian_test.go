package kmod

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
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

// The real modules.alias maps QEMU's devices to their drivers.
func TestDebianModalias(t *testing.T) {
	ix, err := ReadIndex(debianModules(t))
	if err != nil {
		t.Fatal(err)
	}
	aliases := ix.deviceAliases()
	for modalias, want := range map[string]string{
		"pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00ai00": "virtio_pci",
		pciVirtioNet: "virtio_pci",
		virtioNet:    "virtio_net",
		virtioBlk:    "virtio_blk",
		virtioRNG:    "virtio_rng",
		pciE1000:     "e1000",
		pciXHCI:      "xhci_pci",
		"cpu:type:x86,ven0000fam0006mod003F:feature:,0000,0001,0094,": "crc32c_intel",
	} {
		// A CPU also matches its PMU and power drivers.
		if got := matchModalias(aliases, modalias); !slices.Contains(got, want) || len(got) > 1 && !strings.HasPrefix(modalias, "cpu:") {
			t.Errorf("%s: %q, want [%s]", modalias, got, want)
		}
	}
}

// Coldplug on the initramfs's trimmed index of a q35 machine with a
// virtio NIC, disk and RNG loads the bus drivers, then the virtio drivers,
// virtio_rng first, and nothing for hardware that is not there.
func TestDebianColdplug(t *testing.T) {
	ix, err := ReadIndex(debianModules(t))
	if err != nil {
		t.Fatal(err)
	}
	mods, err := ix.Closure(bootModules)
	if err != nil {
		t.Fatal(err)
	}
	dst := t.TempDir()
	if err := ix.WriteTrimmed(dst, mods); err != nil {
		t.Fatal(err)
	}
	tix, err := ReadIndex(dst)
	if err != nil {
		t.Fatal(err)
	}
	k := newFakeKernel(t, tix)
	for _, n := range []string{"virtio_net", "virtio_blk", "net_failover", "failover"} {
		k.mustFollow(n, "virtio_rng")
	}
	m := &machine{k: k, devices: map[string][]string{
		"": {pciVirtioNet, pciVirtioBlk, "pci:v00001AF4d00001005sv00001AF4sd00000004bc00scFFi00",
			"pci:v00008086d000029C0sv00001AF4sd00001100bc06sc00i00", acpiButton,
			"cpu:type:x86,ven0000fam0006mod003F:feature:,0000,0001,0094,"},
		"virtio_pci": {virtioNet, virtioBlk, virtioRNG},
	}}
	res, err := coldplug(context.Background(), tix, []string{"btrfs", "tun"}, m.scan, k.load, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.rounds) != 2 {
		t.Fatalf("rounds %q, want 2", m.rounds)
	}
	for _, want := range []string{"virtio_pci", "btrfs", "tun", "crc32c_intel", "libcrc32c"} {
		if !slices.Contains(m.rounds[0], want) {
			t.Errorf("round 1 %q lacks %s", m.rounds[0], want)
		}
	}
	for _, want := range []string{"virtio_net", "virtio_blk", "virtio_rng"} {
		if !slices.Contains(m.rounds[1], want) {
			t.Errorf("round 2 %q lacks %s", m.rounds[1], want)
		}
	}
	for _, r := range res.Modules {
		switch r.Name {
		case "e1000", "e1000e", "igb", "ixgbe", "r8169", "nvme", "ahci", "usb_storage":
			t.Errorf("loaded %s for hardware that is not there", r.Name)
		}
	}
	t.Logf("%d of the %d modules carried loaded", len(res.Modules), len(tix.mods))
}
