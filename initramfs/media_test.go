package main

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	diskfs "github.com/diskfs/go-diskfs"
	"github.com/diskfs/go-diskfs/filesystem"
	"github.com/diskfs/go-diskfs/partition/gpt"
)

// fakeMedia is a bootMedia over small fake files in dir, and the fake
// initramfs.
func fakeMedia(t *testing.T, dir string) (bootMedia, string) {
	t.Helper()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	m := bootMedia{
		kernel:       write("bzImage-6.1", "MZ fake kernel "+strings.Repeat("k", 3000)),
		cmdline:      "console=ttyS0 homestaker.wg=off",
		extraInitrds: []string{write("next.cpio", "070701 fake next stage "+strings.Repeat("n", 70000))},
		efiLoader:    write("loader.efi", "MZ fake systemd-boot"),
	}
	return m, write("x.cpio.zst", "fake initramfs "+strings.Repeat("i", 5000))
}

func TestIPXEScript(t *testing.T) {
	for _, tc := range []struct {
		cmdline string
		initrds []string
		want    string
	}{
		{defaultCmdline, []string{"initramfs.cpio.zst"}, `#!ipxe
kernel vmlinuz console=tty0 console=ttyS0,115200 initrd=initramfs.cpio.zst
initrd initramfs.cpio.zst
boot
`},
		{"console=ttyS0", []string{"initramfs.cpio.zst", "next.cpio"}, `#!ipxe
kernel vmlinuz console=ttyS0 initrd=initramfs.cpio.zst initrd=next.cpio
initrd initramfs.cpio.zst
initrd next.cpio
boot
`},
		{"", []string{"initramfs.cpio.zst"}, "#!ipxe\nkernel vmlinuz initrd=initramfs.cpio.zst\ninitrd initramfs.cpio.zst\nboot\n"},
	} {
		if got := ipxeScript(tc.cmdline, tc.initrds); got != tc.want {
			t.Errorf("ipxeScript(%q, %q) =\n%s\nwant\n%s", tc.cmdline, tc.initrds, got, tc.want)
		}
	}
}

// The PXE folder holds boot.ipxe and every file it names, by those names.
func TestWritePXE(t *testing.T) {
	m, initramfs := fakeMedia(t, t.TempDir())
	m.pxeDir = filepath.Join(t.TempDir(), "pxe")
	var out bytes.Buffer
	if err := writeBootMedia(&out, m, initramfs); err != nil {
		t.Fatal(err)
	}
	script, err := os.ReadFile(filepath.Join(m.pxeDir, "boot.ipxe"))
	if err != nil {
		t.Fatal(err)
	}
	if want := ipxeScript(m.cmdline, []string{"initramfs.cpio.zst", "next.cpio"}); string(script) != want {
		t.Errorf("boot.ipxe =\n%s\nwant\n%s", script, want)
	}
	for name, src := range map[string]string{"vmlinuz": m.kernel, "initramfs.cpio.zst": initramfs, "next.cpio": m.extraInitrds[0]} {
		assertSameFile(t, filepath.Join(m.pxeDir, name), src)
	}
	ents, _ := os.ReadDir(m.pxeDir)
	if len(ents) != 4 {
		t.Errorf("the PXE folder holds %d files, want 4 (no leftovers)", len(ents))
	}
	if !strings.Contains(out.String(), "boot.ipxe") {
		t.Errorf("summary lacks boot.ipxe: %q", out.String())
	}
}

// -pxe on the folder that already holds the kernel and the initramfs (make
// build's build/) writes boot.ipxe beside them and leaves them be.
func TestWritePXEInPlace(t *testing.T) {
	dir := t.TempDir()
	m, _ := fakeMedia(t, dir)
	m.kernel = filepath.Join(dir, "vmlinuz")
	if err := os.WriteFile(m.kernel, []byte("MZ kernel"), 0o644); err != nil {
		t.Fatal(err)
	}
	initramfs := filepath.Join(dir, "initramfs.cpio.zst")
	if err := os.WriteFile(initramfs, []byte("initramfs"), 0o644); err != nil {
		t.Fatal(err)
	}
	m.pxeDir = dir
	if err := writeBootMedia(&bytes.Buffer{}, m, initramfs); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(m.kernel); string(b) != "MZ kernel" {
		t.Errorf("vmlinuz copied onto itself: %q", b)
	}
	if _, err := os.Stat(filepath.Join(dir, "boot.ipxe")); err != nil {
		t.Error(err)
	}
}

// The USB image, read back with go-diskfs: a GPT with the ESP and the empty
// files partition, and on the FAT32 ESP the loader, its configuration, the
// kernel and the initrds, byte for byte.
func TestWriteUSB(t *testing.T) {
	m, initramfs := fakeMedia(t, t.TempDir())
	m.usbImage = filepath.Join(t.TempDir(), "homestaker-usb.img")
	var out bytes.Buffer
	if err := writeBootMedia(&out, m, initramfs); err != nil {
		t.Fatal(err)
	}
	t.Log(strings.TrimSpace(out.String()))

	d, err := diskfs.Open(m.usbImage, diskfs.WithOpenMode(diskfs.ReadOnly))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if d.Size != 82*mib {
		t.Errorf("image is %d bytes, want 1 + 64 + 16 + 1 MiB", d.Size)
	}
	pt, err := d.GetPartitionTable()
	if err != nil {
		t.Fatal(err)
	}
	table, ok := pt.(*gpt.Table)
	if !ok {
		t.Fatalf("partition table is %s, want gpt", pt.Type())
	}
	if !table.ProtectiveMBR {
		t.Error("no protective MBR")
	}
	if len(table.Partitions) != 2 {
		t.Fatalf("%d partitions, want 2", len(table.Partitions))
	}
	esp, files := table.Partitions[0], table.Partitions[1]
	if esp.Type != gpt.EFISystemPartition || esp.Start != 2048 || esp.GetSize() != 64*mib {
		t.Errorf("partition 1: type %s, start %d, %d bytes; want the EFI system partition at sector 2048, 64 MiB", esp.Type, esp.Start, esp.GetSize())
	}
	if files.Type != gpt.LinuxFilesystem || files.Name != "homestaker-files" || files.GetSize() != 16*mib || files.Start != esp.End+1 {
		t.Errorf("partition 2: type %s, name %q, start %d, %d bytes; want Linux data %q, 16 MiB after the ESP", files.Type, files.Name, files.Start, files.GetSize(), "homestaker-files")
	}

	fat, err := d.GetFilesystem(1)
	if err != nil {
		t.Fatal(err)
	}
	if fat.Type() != filesystem.TypeFat32 {
		t.Errorf("ESP filesystem type %v, want FAT32", fat.Type())
	}
	if got := strings.TrimSpace(fat.Label()); got != "HOMESTAKER" {
		t.Errorf("ESP label %q", got)
	}
	want := map[string]string{
		"loader/loader.conf":             "default homestaker.conf\ntimeout 0\n",
		"loader/entries/homestaker.conf": "title homestaker-boot\nlinux /vmlinuz\ninitrd /initramfs.cpio.zst\ninitrd /next.cpio\noptions console=ttyS0 homestaker.wg=off\n",
	}
	for name, src := range map[string]string{"EFI/BOOT/BOOTX64.EFI": m.efiLoader, "vmlinuz": m.kernel, "initramfs.cpio.zst": initramfs, "next.cpio": m.extraInitrds[0]} {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		want[name] = string(b)
	}
	// An initrd another follows is padded to 4 bytes, as the kernel reads
	// the next cpio archive from there.
	if n := len(want["initramfs.cpio.zst"]); n%4 == 0 {
		t.Fatalf("the fake initramfs is %d bytes, which tests no padding", n)
	}
	for len(want["initramfs.cpio.zst"])%4 != 0 {
		want["initramfs.cpio.zst"] += "\x00"
	}
	for name, content := range want {
		b, err := readFAT(fat, name)
		if err != nil {
			t.Errorf("ESP: %v", err)
			continue
		}
		if string(b) != content {
			t.Errorf("ESP %s: %d bytes, differs from the %d bytes expected", name, len(b), len(content))
		}
	}
	fsckFAT(t, m.usbImage, int64(esp.Start)*512, esp.GetSize())
	if p, err := d.GetFilesystem(2); err == nil {
		t.Errorf("the files partition holds a %v filesystem, want it left empty", p.Type())
	}
}

// Whatever the size, the ESP's FAT32 passes fsck.fat: go-diskfs's own
// layout does not at 64 MiB (see fat32fix.go). 261 MiB and up have 4 KiB
// clusters.
func TestESPLayouts(t *testing.T) {
	for _, size := range []int64{64 * mib, 65 * mib, 121 * mib, 261 * mib} {
		img := filepath.Join(t.TempDir(), "esp.img")
		d, err := diskfs.Create(img, size+mib, diskfs.SectorSize512)
		if err != nil {
			t.Fatal(err)
		}
		esp, err := createESP(d, mib, size)
		if err != nil {
			t.Fatalf("%d MiB: %v", size/mib, err)
		}
		if err := writeFAT(esp, "loader/entries/homestaker.conf", strings.NewReader("title x\n")); err != nil {
			t.Fatal(err)
		}
		if err := finishFAT32(d, mib); err != nil {
			t.Fatal(err)
		}
		d.Close()
		fsckFAT(t, img, mib, size)
	}
}

// The same inputs give the same image; a different command line gives
// different disk GUIDs.
func TestWriteUSBIsReproducible(t *testing.T) {
	m, initramfs := fakeMedia(t, t.TempDir())
	var imgs [3][]byte
	for i := range imgs {
		m.usbImage = filepath.Join(t.TempDir(), "homestaker-usb.img")
		if i == 2 {
			m.cmdline += " quiet"
		}
		if err := writeBootMedia(&bytes.Buffer{}, m, initramfs); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(m.usbImage)
		if err != nil {
			t.Fatal(err)
		}
		imgs[i] = b
	}
	if !bytes.Equal(imgs[0], imgs[1]) {
		t.Error("two images from the same inputs differ")
	}
	// The disk GUID sits in the primary GPT header at LBA 1, offset 56.
	if bytes.Equal(imgs[0][512+56:512+72], imgs[2][512+56:512+72]) {
		t.Error("a different command line gave the same disk GUID")
	}
}

// A kernel and initramfs past 64 MiB get an ESP with 20% room.
func TestESPSize(t *testing.T) {
	for _, tc := range []struct{ payload, want int64 }{
		{0, 64 * mib},
		{20 * mib, 64 * mib},
		{100 * mib, 120 * mib},
		{100*mib + 1, 121 * mib},
	} {
		if got := espSizeFor(tc.payload); got != tc.want {
			t.Errorf("espSizeFor(%d) = %d MiB, want %d MiB", tc.payload, got/mib, tc.want/mib)
		}
	}
}

func TestBootMediaCheck(t *testing.T) {
	dir := t.TempDir()
	m, _ := fakeMedia(t, dir)
	m.pxeDir = dir
	for _, tc := range []struct {
		name string
		edit func(*bootMedia)
		want string // "" for no error
	}{
		{"ok", func(*bootMedia) {}, ""},
		{"nothing asked", func(m *bootMedia) { *m = bootMedia{} }, ""},
		{"no kernel", func(m *bootMedia) { m.kernel = "" }, "need -kernel"},
		{"missing kernel", func(m *bootMedia) { m.kernel = filepath.Join(dir, "nope") }, "-kernel:"},
		{"kernel without media", func(m *bootMedia) { m.pxeDir = "" }, "neither is given"},
		{"two-line cmdline", func(m *bootMedia) { m.cmdline = "a\nb" }, "one line"},
		{"initrd named like the initramfs", func(m *bootMedia) {
			p := filepath.Join(t.TempDir(), "initramfs.cpio.zst")
			os.WriteFile(p, nil, 0o644)
			m.extraInitrds = []string{p}
		}, "taken by the initramfs"},
		{"no systemd-boot", func(m *bootMedia) { m.usbImage = "x.img"; m.efiLoader = systemdBoot + ".missing" }, "-efi-loader:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mm := m
			mm.extraInitrds = append([]string(nil), m.extraInitrds...)
			tc.edit(&mm)
			err := mm.check()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("check: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("check: %v, want an error with %q", err, tc.want)
			}
		})
	}
}

func assertSameFile(t *testing.T, got, want string) {
	t.Helper()
	a, err := os.ReadFile(got)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(want)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Errorf("%s differs from %s", got, want)
	}
}

// readFAT reads name whole in one Read: go-diskfs v1.9.4's File.Read,
// called again at an offset inside a cluster, returns bytes past the end of
// the file (so fs.ReadFile pads a file to whole 512-byte clusters).
func readFAT(fat filesystem.FileSystem, name string) ([]byte, error) {
	st, err := fs.Stat(fat, name)
	if err != nil {
		return nil, err
	}
	f, err := fat.OpenFile("/"+name, os.O_RDONLY)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := make([]byte, st.Size())
	if _, err := io.ReadFull(f, b); err != nil {
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	return b, nil
}

// fsckFAT checks the FAT filesystem at off in img with dosfstools'
// fsck.fat, a second opinion on go-diskfs.
func fsckFAT(t *testing.T, img string, off, size int64) {
	t.Helper()
	if _, err := exec.LookPath("fsck.fat"); err != nil {
		t.Error("fsck.fat is not installed: run `make deps` (Debian package dosfstools)")
		return
	}
	b, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	part := filepath.Join(t.TempDir(), "esp.img")
	if err := os.WriteFile(part, b[off:off+size], 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("fsck.fat", "-n", part).CombinedOutput(); err != nil {
		t.Errorf("fsck.fat -n on the ESP: %v\n%s", err, out)
	}
}
