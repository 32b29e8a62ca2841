package main

import (
	"bytes"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"

	"github.com/homestaker/homestaker-boot/init/kmod"
)

// fakeModule returns a minimal ELF64 relocatable file whose only sections
// are .modinfo holding the NUL-terminated strings kvs and .shstrtab: what
// modinfo reads of a module.
func fakeModule(kvs ...string) []byte {
	var info []byte
	for _, kv := range kvs {
		info = append(info, kv...)
		info = append(info, 0)
	}
	shstr := []byte("\x00.modinfo\x00.shstrtab\x00")
	const ehsize, shentsize = 64, 64
	infoOff := uint64(ehsize)
	shstrOff := infoOff + uint64(len(info))
	shOff := (shstrOff + uint64(len(shstr)) + 7) &^ 7
	var b bytes.Buffer
	le := binary.LittleEndian
	b.Write([]byte{0x7f, 'E', 'L', 'F', 2, 1, 1, 0})
	b.Write(make([]byte, 8))
	binary.Write(&b, le, uint16(1))  // ET_REL
	binary.Write(&b, le, uint16(62)) // EM_X86_64
	binary.Write(&b, le, uint32(1))  // EV_CURRENT
	binary.Write(&b, le, uint64(0))  // entry
	binary.Write(&b, le, uint64(0))  // phoff
	binary.Write(&b, le, shOff)      // shoff
	binary.Write(&b, le, uint32(0))  // flags
	binary.Write(&b, le, uint16(ehsize))
	binary.Write(&b, le, uint16(0)) // phentsize
	binary.Write(&b, le, uint16(0)) // phnum
	binary.Write(&b, le, uint16(shentsize))
	binary.Write(&b, le, uint16(3)) // shnum
	binary.Write(&b, le, uint16(2)) // shstrndx
	b.Write(info)
	b.Write(shstr)
	b.Write(make([]byte, int(shOff)-b.Len()))
	section := func(name, typ uint32, off, size uint64) {
		binary.Write(&b, le, name)
		binary.Write(&b, le, typ)
		binary.Write(&b, le, uint64(0)) // flags
		binary.Write(&b, le, uint64(0)) // addr
		binary.Write(&b, le, off)
		binary.Write(&b, le, size)
		binary.Write(&b, le, uint32(0)) // link
		binary.Write(&b, le, uint32(0)) // info
		binary.Write(&b, le, uint64(1)) // addralign
		binary.Write(&b, le, uint64(0)) // entsize
	}
	section(0, 0, 0, 0)
	section(1, 1, infoOff, uint64(len(info)))    // .modinfo, PROGBITS
	section(10, 3, shstrOff, uint64(len(shstr))) // .shstrtab, STRTAB
	return b.Bytes()
}

func writeTestFile(t *testing.T, p string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// modinfo reads the firmware entries of plain and compressed modules.
func TestModinfo(t *testing.T) {
	dir := t.TempDir()
	mod := fakeModule("license=GPL", "firmware=tigon/tg3.bin", "description=test", "firmware=tigon/tg3_tso.bin")
	var xzBuf, zstBuf bytes.Buffer
	xw, _ := xz.NewWriter(&xzBuf)
	xw.Write(mod)
	xw.Close()
	zw, _ := zstd.NewWriter(&zstBuf)
	zw.Write(mod)
	zw.Close()
	for name, b := range map[string][]byte{"a.ko": mod, "a.ko.xz": xzBuf.Bytes(), "a.ko.zst": zstBuf.Bytes()} {
		p := filepath.Join(dir, name)
		writeTestFile(t, p, b)
		got, err := modinfo(p, "firmware")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if want := []string{"tigon/tg3.bin", "tigon/tg3_tso.bin"}; !reflect.DeepEqual(got, want) {
			t.Errorf("%s: firmware = %q, want %q", name, got, want)
		}
	}
	writeTestFile(t, filepath.Join(dir, "bad.ko"), []byte("not an ELF file"))
	if _, err := modinfo(filepath.Join(dir, "bad.ko"), "firmware"); err == nil || !strings.Contains(err.Error(), "bad.ko: not an ELF module") {
		t.Errorf("modinfo of a non-ELF file: %v, want an error naming it", err)
	}
}

// Against the test kernel's real modules, modinfo agrees with kmod's
// `modinfo -F firmware`.
func TestModinfoDebian(t *testing.T) {
	dirs, _ := filepath.Glob("../.cache/kernel/current/lib/modules/*")
	if len(dirs) != 1 {
		t.Skip("no test kernel modules in .cache/kernel/current")
	}
	if _, err := exec.LookPath("modinfo"); err != nil {
		t.Skip("no modinfo (Debian package kmod)")
	}
	for _, p := range []string{"kernel/drivers/net/ethernet/broadcom/tg3.ko", "kernel/drivers/net/ethernet/realtek/r8169.ko", "kernel/fs/btrfs/btrfs.ko"} {
		path := filepath.Join(dirs[0], p)
		out, err := exec.Command("modinfo", "-F", "firmware", path).Output()
		if err != nil {
			t.Fatalf("modinfo %s: %v", path, err)
		}
		want := strings.Fields(string(out))
		got, err := modinfo(path, "firmware")
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("%s: firmware = %q, modinfo says %q", p, got, want)
		}
	}
}

// stageFirmware carries exactly the declared files found (plain, .xz,
// through a symbolic link, in a package root), reports the others with
// the modules that declare them, and nothing else of the directory.
func TestStageFirmware(t *testing.T) {
	modDir := t.TempDir()
	writeTestFile(t, filepath.Join(modDir, "kernel/tg3.ko"), fakeModule("firmware=tigon/tg3.bin", "firmware=tigon/tg3_tso5.bin"))
	writeTestFile(t, filepath.Join(modDir, "kernel/bnx2.ko"), fakeModule("firmware=bnx2/bnx2-mips-09-6.2.1b.fw", "firmware=tigon/tg3.bin"))
	writeTestFile(t, filepath.Join(modDir, "kernel/r8169.ko"), fakeModule("firmware=rtl_nic/rtl8168h-2.fw"))
	writeTestFile(t, filepath.Join(modDir, "kernel/xor.ko"), fakeModule("license=GPL"))
	mods := []kmod.Module{
		{Name: "tg3", Path: "kernel/tg3.ko"}, {Name: "bnx2", Path: "kernel/bnx2.ko"},
		{Name: "r8169", Path: "kernel/r8169.ko"}, {Name: "xor", Path: "kernel/xor.ko"},
	}

	root := t.TempDir() // as `dpkg-deb -x firmware-*.deb root` leaves it
	fw := filepath.Join(root, "lib/firmware")
	writeTestFile(t, filepath.Join(fw, "tigon/tg3.bin"), []byte("tg3 firmware"))
	writeTestFile(t, filepath.Join(fw, "bnx2/bnx2-mips-09-6.2.1b.fw.xz"), []byte("xz bytes"))
	writeTestFile(t, filepath.Join(fw, "rtl_nic/rtl8168h-2.fw.real"), []byte("rtl"))
	if err := os.Symlink("rtl8168h-2.fw.real", filepath.Join(fw, "rtl_nic/rtl8168h-2.fw")); err != nil {
		t.Fatal(err)
	}
	writeTestFile(t, filepath.Join(fw, "unrelated/other.bin"), []byte("nobody declares me"))

	staging := t.TempDir()
	rep, err := stageFirmware(modDir, mods, root, staging)
	if err != nil {
		t.Fatal(err)
	}
	if rep.dir != fw || rep.declared != 4 {
		t.Errorf("dir %q, %d declared; want %q, 4", rep.dir, rep.declared, fw)
	}
	wantCarried := []string{"bnx2/bnx2-mips-09-6.2.1b.fw.xz", "rtl_nic/rtl8168h-2.fw", "tigon/tg3.bin"}
	if !reflect.DeepEqual(rep.carried, wantCarried) {
		t.Errorf("carried %q, want %q", rep.carried, wantCarried)
	}
	wantMissing := []missingFirmware{{file: "tigon/tg3_tso5.bin", modules: []string{"tg3"}}}
	if !reflect.DeepEqual(rep.missing, wantMissing) {
		t.Errorf("missing %+v, want %+v", rep.missing, wantMissing)
	}
	staged, err := listFiles(staging)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, c := range wantCarried {
		want = append(want, "lib/firmware/"+c)
	}
	if !reflect.DeepEqual(staged, want) {
		t.Errorf("staged %q, want %q", staged, want)
	}
	if b, _ := os.ReadFile(filepath.Join(staging, "lib/firmware/rtl_nic/rtl8168h-2.fw")); string(b) != "rtl" {
		t.Errorf("the linked firmware holds %q, want the link target's bytes", b)
	}

	var out bytes.Buffer
	rep.print(&out)
	for _, w := range []string{
		"firmware (3 of 4 declared files, 0.0 MiB) from " + fw + "\n",
		"firmware: 1 declared files not in " + fw,
		"    tigon/tg3_tso5.bin (tg3)\n",
	} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("summary lacks %q:\n%s", w, out.String())
		}
	}

	// Without -firmware: nothing carried, one line with the count.
	rep, err = stageFirmware(modDir, mods, "", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	out.Reset()
	rep.print(&out)
	if want := "  firmware: none carried (no -firmware DIR); the carried modules declare 4 files\n"; out.String() != want {
		t.Errorf("summary %q, want %q", out.String(), want)
	}

	// A declared name leaving the firmware directory, and a bad -firmware.
	writeTestFile(t, filepath.Join(modDir, "kernel/evil.ko"), fakeModule("firmware=../../etc/shadow"))
	if _, err := stageFirmware(modDir, []kmod.Module{{Name: "evil", Path: "kernel/evil.ko"}}, fw, t.TempDir()); err == nil || !strings.Contains(err.Error(), `"../../etc/shadow"`) {
		t.Errorf("a firmware name with ..: %v, want an error naming it", err)
	}
	if _, err := stageFirmware(modDir, mods, filepath.Join(root, "nope"), t.TempDir()); err == nil || !strings.Contains(err.Error(), "-firmware:") {
		t.Errorf("a missing -firmware directory: %v, want an error", err)
	}
}
