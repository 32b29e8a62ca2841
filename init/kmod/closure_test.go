package kmod

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
)

// A small modules directory shaped like Debian 6.1's: btrfs with its
// softdeps on crypto aliases, two providers of crc32c, a built-in
// sha256_generic, ipmi's post: softdep, virtio_rng.
var (
	testDep = `kernel/fs/btrfs/btrfs.ko.xz: kernel/crypto/xor.ko.xz kernel/lib/raid6/raid6_pq.ko.xz kernel/lib/libcrc32c.ko.xz
kernel/crypto/xor.ko.xz:
kernel/lib/raid6/raid6_pq.ko.xz:
kernel/lib/libcrc32c.ko.xz:
kernel/crypto/crc32c_generic.ko.xz:
kernel/arch/x86/crypto/crc32c-intel.ko.xz:
kernel/crypto/xxhash_generic.ko.xz:
kernel/crypto/blake2b_generic.ko.xz:
kernel/arch/x86/crypto/sha256-ssse3.ko.xz:
kernel/drivers/usb/core/usb-common.ko.xz:
kernel/drivers/usb/core/usbcore.ko.xz: kernel/drivers/usb/core/usb-common.ko.xz
kernel/drivers/scsi/scsi_mod.ko.xz:
kernel/drivers/usb/storage/usb-storage.ko.xz: kernel/drivers/usb/core/usbcore.ko.xz kernel/drivers/usb/core/usb-common.ko.xz kernel/drivers/scsi/scsi_mod.ko.xz
kernel/drivers/char/ipmi/ipmi_msghandler.ko.xz:
kernel/drivers/char/ipmi/ipmi_devintf.ko.xz: kernel/drivers/char/ipmi/ipmi_msghandler.ko.xz
kernel/drivers/virtio/virtio_ring.ko.xz:
kernel/drivers/virtio/virtio.ko.xz: kernel/drivers/virtio/virtio_ring.ko.xz
kernel/drivers/char/hw_random/virtio-rng.ko.xz: kernel/drivers/virtio/virtio.ko.xz kernel/drivers/virtio/virtio_ring.ko.xz
kernel/drivers/net/virtio_net.ko.xz: kernel/drivers/virtio/virtio.ko.xz kernel/drivers/virtio/virtio_ring.ko.xz
kernel/drivers/net/tun.ko:
kernel/net/egg.ko: kernel/net/chicken.ko
kernel/net/chicken.ko:
`
	testSoftdep = `# Soft dependencies extracted from modules themselves.
softdep btrfs pre: blake2b-256
softdep btrfs pre: sha256
softdep btrfs pre: xxhash64
softdep btrfs pre: crypto-crc32c
softdep libcrc32c pre: crc32c
softdep ipmi_msghandler post: ipmi_devintf
softdep cifs gcm
softdep chicken pre: egg
softdep tun pre: no_such_module
`
	testAlias = `# Aliases extracted from modules themselves.
alias crypto-crc32c crc32c_intel
alias crc32c crc32c_intel
alias crypto-crc32c crc32c_generic
alias crc32c crc32c_generic
alias sha256 sha256_generic
alias sha256 sha256_ssse3
alias crypto-sha256 sha256_generic
alias blake2b-256 blake2b_generic
alias xxhash64 xxhash_generic
alias fs-btrfs btrfs
alias devname:btrfs-control btrfs
alias pci:v00001AF4d00001000sv*sd*bc*sc*i* virtio_net
alias stale gone_module
`
	testBuiltin = `kernel/crypto/sha256_generic.ko
kernel/lib/crc32.ko
`
)

// writeFiles writes name -> content into a new directory.
func writeFiles(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func testIndex(t testing.TB) *Index {
	t.Helper()
	ix, err := ReadIndex(writeFiles(t, map[string]string{
		"modules.dep":     testDep,
		"modules.softdep": testSoftdep,
		"modules.alias":   testAlias,
		"modules.builtin": testBuiltin,
	}))
	if err != nil {
		t.Fatal(err)
	}
	return ix
}

func names(mods []Module) []string {
	var out []string
	for _, m := range mods {
		out = append(out, m.Name)
	}
	return out
}

var btrfsClosure = []string{
	// pre: softdeps and hard deps first, ties by name
	"blake2b_generic", "crc32c_generic", "crc32c_intel", "libcrc32c",
	"raid6_pq", "sha256_ssse3", "xor", "xxhash_generic", "btrfs",
}

func TestClosure(t *testing.T) {
	ix := testIndex(t)
	for _, tc := range []struct {
		name    string
		wanted  []string
		want    []string
		wantErr string
	}{
		{name: "btrfs: hard deps and softdeps through aliases", wanted: []string{"btrfs"}, want: btrfsClosure},
		{name: "alias of btrfs", wanted: []string{"fs-btrfs"}, want: btrfsClosure},
		{name: "alias with two providers", wanted: []string{"crc32c"}, want: []string{"crc32c_generic", "crc32c_intel"}},
		{name: "alias with a built-in provider", wanted: []string{"sha256"}, want: []string{"sha256_ssse3"}},
		{name: "alias with only a built-in provider", wanted: []string{"crypto-sha256"}, want: nil},
		{name: "built-in module", wanted: []string{"crc32", "sha256_generic"}, want: nil},
		{name: "dash or underscore", wanted: []string{"usb_storage", "usb-storage", "virtio-rng"},
			want: []string{"scsi_mod", "usb_common", "usbcore", "usb_storage", "virtio_ring", "virtio", "virtio_rng"}},
		{name: "post: softdep comes after", wanted: []string{"ipmi_msghandler"}, want: []string{"ipmi_msghandler", "ipmi_devintf"}},
		{name: "softdep naming nothing is ignored", wanted: []string{"tun"}, want: []string{"tun"}},
		{name: "softdep against a hard dep is dropped", wanted: []string{"egg"}, want: []string{"chicken", "egg"}},
		{name: "nothing", wanted: nil, want: nil},
		{name: "unknown names", wanted: []string{"nosuch", "btrfs", "gone_module", "stale"},
			wantErr: `kernel modules "nosuch", "gone_module", "stale": no such module, alias or built-in module in`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ix.Closure(tc.wanted)
			checkErr(t, err, tc.wantErr)
			if tc.wantErr != "" {
				return
			}
			if !reflect.DeepEqual(names(got), tc.want) {
				t.Errorf("Closure(%q) = %q, want %q", tc.wanted, names(got), tc.want)
			}
		})
	}
}

func TestClosurePaths(t *testing.T) {
	got, err := testIndex(t).Closure([]string{"crc32c-intel"})
	if err != nil {
		t.Fatal(err)
	}
	want := []Module{mod("kernel/arch/x86/crypto/crc32c-intel.ko.xz")}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Closure = %#v, want %#v", got, want)
	}
}

func TestClosureBrokenIndex(t *testing.T) {
	for _, tc := range []struct {
		name, dep string
		wanted    []string
		wantErr   string
	}{
		{name: "dependency without a line", dep: "kernel/a.ko: kernel/b.ko\n", wanted: []string{"a"},
			wantErr: "modules.dep: a needs kernel/b.ko, which has no line of its own"},
		{name: "cycle", dep: "kernel/a.ko: kernel/b.ko\nkernel/b.ko: kernel/a.ko\nkernel/c.ko: kernel/a.ko\n", wanted: []string{"c"},
			wantErr: "modules.dep: dependency cycle in or before a, b, c"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ix, err := ReadIndex(writeFiles(t, map[string]string{"modules.dep": tc.dep}))
			if err != nil {
				t.Fatal(err)
			}
			_, err = ix.Closure(tc.wanted)
			checkErr(t, err, tc.wantErr)
		})
	}
}

func TestReadIndexErrors(t *testing.T) {
	dir := t.TempDir()
	_, err := ReadIndex(dir)
	checkErr(t, err, "open "+filepath.Join(dir, "modules.dep")+": no such file or directory")

	dir = writeFiles(t, map[string]string{"modules.dep": "kernel/a.ko:\n", "modules.alias": "alias a\n"})
	_, err = ReadIndex(dir)
	checkErr(t, err, filepath.Join(dir, "modules.alias")+": line 1:")
}

func TestBuiltinAlias(t *testing.T) {
	ix, err := ReadIndex(writeFiles(t, map[string]string{
		"modules.dep":           "kernel/lib/libcrc32c.ko:\n",
		"modules.softdep":       "softdep libcrc32c pre: crc32c\n",
		"modules.builtin":       "kernel/crypto/crc32c_generic.ko\n",
		"modules.builtin.alias": "alias crc32c crc32c_generic\n",
	}))
	if err != nil {
		t.Fatal(err)
	}
	got, err := ix.Closure([]string{"crc32c", "libcrc32c"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"libcrc32c"}; !reflect.DeepEqual(names(got), want) {
		t.Errorf("Closure = %q, want %q", names(got), want)
	}
}

func TestWriteTrimmed(t *testing.T) {
	ix := testIndex(t)
	mods, err := ix.Closure([]string{"btrfs", "ipmi_msghandler", "virtio_net"})
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "lib/modules/6.1.0-test")
	if err := ix.WriteTrimmed(dst, mods); err != nil {
		t.Fatal(err)
	}
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dst, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	wantDep := `kernel/crypto/blake2b_generic.ko.xz:
kernel/crypto/crc32c_generic.ko.xz:
kernel/arch/x86/crypto/crc32c-intel.ko.xz:
kernel/drivers/char/ipmi/ipmi_msghandler.ko.xz:
kernel/drivers/char/ipmi/ipmi_devintf.ko.xz: kernel/drivers/char/ipmi/ipmi_msghandler.ko.xz
kernel/lib/libcrc32c.ko.xz:
kernel/lib/raid6/raid6_pq.ko.xz:
kernel/arch/x86/crypto/sha256-ssse3.ko.xz:
kernel/drivers/virtio/virtio_ring.ko.xz:
kernel/drivers/virtio/virtio.ko.xz: kernel/drivers/virtio/virtio_ring.ko.xz
kernel/drivers/net/virtio_net.ko.xz: kernel/drivers/virtio/virtio.ko.xz kernel/drivers/virtio/virtio_ring.ko.xz
kernel/crypto/xor.ko.xz:
kernel/crypto/xxhash_generic.ko.xz:
kernel/fs/btrfs/btrfs.ko.xz: kernel/crypto/xor.ko.xz kernel/lib/raid6/raid6_pq.ko.xz kernel/lib/libcrc32c.ko.xz
`
	if got := read("modules.dep"); got != wantDep {
		t.Errorf("modules.dep:\n%s\nwant:\n%s", got, wantDep)
	}
	wantSoft := `softdep ipmi_msghandler post: ipmi_devintf
softdep libcrc32c pre: crc32c_intel crc32c_generic
softdep btrfs pre: blake2b_generic sha256_ssse3 xxhash_generic crc32c_intel crc32c_generic
`
	if got := read("modules.softdep"); got != wantSoft {
		t.Errorf("modules.softdep:\n%s\nwant:\n%s", got, wantSoft)
	}
	wantAlias := `alias crypto-crc32c crc32c_intel
alias crc32c crc32c_intel
alias crypto-crc32c crc32c_generic
alias crc32c crc32c_generic
alias sha256 sha256_ssse3
alias blake2b-256 blake2b_generic
alias xxhash64 xxhash_generic
alias fs-btrfs btrfs
alias devname:btrfs-control btrfs
alias pci:v00001AF4d00001000sv*sd*bc*sc*i* virtio_net
`
	if got := read("modules.alias"); got != wantAlias {
		t.Errorf("modules.alias:\n%s\nwant:\n%s", got, wantAlias)
	}
	if got := read("modules.builtin"); got != testBuiltin {
		t.Errorf("modules.builtin:\n%s\nwant:\n%s", got, testBuiltin)
	}

	// The trimmed index reads back to the same closure.
	tix, err := ReadIndex(dst)
	if err != nil {
		t.Fatal(err)
	}
	again, err := tix.Closure(names(mods))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(again, mods) {
		t.Errorf("closure over the trimmed index = %q, want %q", names(again), names(mods))
	}
}

func TestWriteTrimmedNotClosed(t *testing.T) {
	ix := testIndex(t)
	mods, err := ix.Closure([]string{"btrfs"})
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(mods, func(m Module) bool { return m.Name == "xor" })
	err = ix.WriteTrimmed(t.TempDir(), slices.Delete(mods, i, i+1))
	checkErr(t, err, "btrfs needs xor, which is not among the modules to write")

	err = ix.WriteTrimmed(t.TempDir(), []Module{{Name: "nosuch"}})
	checkErr(t, err, "nosuch is not a module of")
}

// A softdep the builder adds (an upper driver with its controller's core)
// is followed by Closure and written by WriteTrimmed, merged with the
// module's own lines.
func TestAddSoftdep(t *testing.T) {
	ix := testIndex(t)
	ix.AddSoftdep(Softdep{Module: "usb-common", Post: []string{"usb-storage"}})
	ix.AddSoftdep(Softdep{Module: "ipmi_msghandler", Post: []string{"tun"}})
	mods, err := ix.Closure([]string{"usbcore", "ipmi_msghandler"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"ipmi_msghandler", "ipmi_devintf", "scsi_mod", "tun", "usb_common", "usbcore", "usb_storage"}
	if !reflect.DeepEqual(names(mods), want) {
		t.Errorf("Closure = %q, want %q", names(mods), want)
	}
	dst := t.TempDir()
	if err := ix.WriteTrimmed(dst, mods); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dst, "modules.softdep"))
	if err != nil {
		t.Fatal(err)
	}
	wantSoft := "softdep ipmi_msghandler post: ipmi_devintf tun\nsoftdep usb_common post: usb_storage\n"
	if string(b) != wantSoft {
		t.Errorf("modules.softdep:\n%s\nwant\n%s", b, wantSoft)
	}
}
