package initrd

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
	"golang.org/x/sys/unix"
)

// member is one entry of a test archive.
type member struct {
	name       string
	mode       uint32 // type and permissions
	data       string
	ino, nlink uint32
	rmaj, rmin uint32
	mtime      uint32
	badSum     bool
}

// newc writes a cpio archive as the kernel's usr/gen_init_cpio and GNU
// cpio do: newc, or "070702" with data sums when crc is set.
func newc(crc bool, members ...member) []byte {
	var b bytes.Buffer
	pad := func() {
		for b.Len()%4 != 0 {
			b.WriteByte(0)
		}
	}
	write := func(m member) {
		magic := "070701"
		var sum uint32
		if crc {
			magic = "070702"
			for _, c := range []byte(m.data) {
				sum += uint32(c)
			}
			if m.badSum {
				sum++
			}
		}
		ino, nlink := m.ino, m.nlink
		if ino == 0 {
			ino = uint32(b.Len() + 1000)
		}
		if nlink == 0 {
			nlink = 1
		}
		fmt.Fprintf(&b, "%s%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x",
			magic, ino, m.mode, 0, 0, nlink, m.mtime, len(m.data), 0, 0, m.rmaj, m.rmin, len(m.name)+1, sum)
		b.WriteString(m.name)
		b.WriteByte(0)
		pad()
		b.WriteString(m.data)
		pad()
	}
	for _, m := range members {
		write(m)
	}
	write(member{name: cpioTrailer, ino: 1, nlink: 1})
	return b.Bytes()
}

func dir(name string, perm uint32) member { return member{name: name, mode: sIFDIR | perm} }
func file(name string, perm uint32, data string) member {
	return member{name: name, mode: sIFREG | perm, data: data, mtime: 1700000000}
}
func symlink(name, target string) member {
	return member{name: name, mode: sIFLNK | 0o777, data: target}
}

// tree is a next stage's root in miniature: a read-only directory (as in
// the Nix store), an executable, a symlink, two names of one inode with
// the data at the last (as GNU cpio writes them), a FIFO and a device.
func tree() []member {
	return []member{
		dir(".", 0o755),
		dir("etc", 0o755),
		file("etc/hostname", 0o644, "next\n"),
		file("init", 0o755, "#!/bin/sh\n"),
		dir("bin", 0o755),
		file("bin/busybox", 0o755, "ELF..."),
		symlink("bin/sh", "busybox"),
		{name: "bin/a", mode: sIFREG | 0o755, ino: 77, nlink: 2},
		{name: "bin/b", mode: sIFREG | 0o755, ino: 77, nlink: 2, data: "shared"},
		dir("nix", 0o755),
		dir("nix/store", 0o555),
		file("nix/store/x-init", 0o555, "stage 2"),
		{name: "run/fifo", mode: sIFIFO | 0o600},
		{name: "dev/console", mode: sIFCHR | 0o600, rmaj: 5, rmin: 1},
	}
}

// checkTree checks what unpacking tree() left in dir.
func checkTree(t *testing.T, dir string) {
	t.Helper()
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Error(err)
		}
		return string(b)
	}
	mode := func(name string) os.FileMode {
		fi, err := os.Lstat(filepath.Join(dir, name))
		if err != nil {
			t.Error(err)
			return 0
		}
		return fi.Mode()
	}
	if got := read("etc/hostname"); got != "next\n" {
		t.Errorf("etc/hostname = %q", got)
	}
	if got := mode("init"); got != 0o755 {
		t.Errorf("init mode %v", got)
	}
	if got, err := os.Readlink(filepath.Join(dir, "bin/sh")); got != "busybox" {
		t.Errorf("bin/sh -> %q, %v", got, err)
	}
	if got := read("bin/a"); got != "shared" {
		t.Errorf("bin/a = %q, want the data given with bin/b", got)
	}
	a, _ := os.Stat(filepath.Join(dir, "bin/a"))
	b, _ := os.Stat(filepath.Join(dir, "bin/b"))
	if a == nil || b == nil || !os.SameFile(a, b) {
		t.Error("bin/a and bin/b are not one inode")
	}
	if got := mode("nix/store"); got != os.ModeDir|0o555 {
		t.Errorf("nix/store mode %v", got)
	}
	if got := read("nix/store/x-init"); got != "stage 2" {
		t.Errorf("nix/store/x-init = %q", got)
	}
	if got := mode("run/fifo"); got != os.ModeNamedPipe|0o600 {
		t.Errorf("run/fifo mode %v", got)
	}
	if fi, err := os.Stat(filepath.Join(dir, "etc/hostname")); err == nil && !fi.ModTime().Equal(time.Unix(1700000000, 0)) {
		t.Errorf("etc/hostname mtime %v", fi.ModTime())
	}
	if os.Geteuid() == 0 {
		var st unix.Stat_t
		if err := unix.Lstat(filepath.Join(dir, "dev/console"), &st); err != nil {
			t.Error(err)
		} else if st.Mode&sIFMT != sIFCHR || unix.Major(st.Rdev) != 5 || unix.Minor(st.Rdev) != 1 {
			t.Errorf("dev/console: mode %#o rdev %d:%d", st.Mode, unix.Major(st.Rdev), unix.Minor(st.Rdev))
		}
	}
}

func gzipped(b []byte) []byte {
	var out bytes.Buffer
	w := gzip.NewWriter(&out)
	w.Write(b)
	w.Close()
	return out.Bytes()
}

func zstded(b []byte) []byte {
	enc, _ := zstd.NewWriter(nil)
	return enc.EncodeAll(b, nil)
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func unpack(t *testing.T, initrd []byte) (string, error) {
	t.Helper()
	dir := t.TempDir()
	t.Cleanup(func() { chmodWritable(dir) })
	return dir, Unpack(bytes.NewReader(initrd), int64(len(initrd)), dir)
}

// chmodWritable lets t.TempDir's cleanup remove read-only directories.
func chmodWritable(dir string) {
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(p, 0o755)
		}
		return nil
	})
}

func TestUnpackInitrdFormats(t *testing.T) {
	archive := newc(false, tree()...)
	for _, tc := range []struct {
		name   string
		initrd []byte
	}{
		{"plain", archive},
		{"crc", newc(true, tree()...)},
		{"gzip", gzipped(archive)},
		{"zstd", zstded(archive)},
		{"xz", storedXZ(archive)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, err := unpack(t, tc.initrd)
			if err != nil {
				t.Fatal(err)
			}
			checkTree(t, dir)
		})
	}
}

// TestUnpackInitrdXZ unpacks an archive compressed as the kernel's build
// does it (xz --check=crc32 --lzma2=dict=1MiB), and the segment after it.
func TestUnpackInitrdXZ(t *testing.T) {
	compressed := xzCompress(t, xz.WriterConfig{CheckSum: xz.CRC32, DictCap: 1 << 20}, newc(false, tree()...))
	dir, err := unpack(t, cat(compressed, newc(false, file("after-xz", 0o644, "found"))))
	if err != nil {
		t.Fatal(err)
	}
	checkTree(t, dir)
	if b, _ := os.ReadFile(filepath.Join(dir, "after-xz")); string(b) != "found" {
		t.Error("the segment after the xz stream was not unpacked")
	}
}

// TestUnpackInitrdSegments: an initrd is segments, each compressed its
// own way or not at all, padded with zeros, later entries replacing
// earlier ones (early microcode in front of the main archive; an
// appended archive overriding a file).
func TestUnpackInitrdSegments(t *testing.T) {
	microcode := newc(false,
		dir("kernel", 0o755), dir("kernel/x86", 0o755), dir("kernel/x86/microcode", 0o755),
		file("kernel/x86/microcode/GenuineIntel.bin", 0o644, "ucode"))
	override := newc(false, file("etc/hostname", 0o644, "override\n"), symlink("init", "bin/busybox"))
	for _, tc := range []struct {
		name   string
		initrd []byte
	}{
		{"plain then zstd", cat(microcode, make([]byte, 512), zstded(newc(false, tree()...)), make([]byte, 4), gzipped(override))},
		{"gzip then xz", cat(gzipped(microcode), make([]byte, 3), storedXZ(newc(false, tree()...)), zstded(override))},
		{"two archives in one stream", cat(zstded(cat(microcode, make([]byte, 8), newc(false, tree()...))), override)},
		{"two zstd frames then plain", cat(zstded(microcode), zstded(newc(false, tree()...)), override, make([]byte, 100))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, err := unpack(t, tc.initrd)
			if err != nil {
				t.Fatal(err)
			}
			if b, _ := os.ReadFile(filepath.Join(dir, "kernel/x86/microcode/GenuineIntel.bin")); string(b) != "ucode" {
				t.Errorf("microcode = %q", b)
			}
			if b, _ := os.ReadFile(filepath.Join(dir, "nix/store/x-init")); string(b) != "stage 2" {
				t.Errorf("nix/store/x-init = %q", b)
			}
			if b, _ := os.ReadFile(filepath.Join(dir, "etc/hostname")); string(b) != "override\n" {
				t.Errorf("etc/hostname = %q, want the later segment's", b)
			}
			if target, _ := os.Readlink(filepath.Join(dir, "init")); target != "bin/busybox" {
				t.Errorf("init -> %q, want the later segment's symlink", target)
			}
		})
	}
}

func TestUnpackInitrdRefuses(t *testing.T) {
	for _, tc := range []struct {
		name    string
		initrd  []byte
		wantErr string
	}{
		{"dot-dot", newc(false, file("../escaped", 0o644, "x")), `"../escaped"`},
		{"dot-dot inside", newc(false, dir("a", 0o755), file("a/../../escaped", 0o644, "x")), `"a/../../escaped"`},
		{"absolute", zstded(newc(false, file("/etc/passwd", 0o644, "x"))), `"/etc/passwd"`},
		{"through an absolute symlink", newc(false, symlink("etc", "/tmp"), file("etc/escaped", 0o644, "x")), `"etc/escaped"`},
		{"through a relative symlink", newc(false, dir("a", 0o755), symlink("a/up", "../.."), file("a/up/escaped", 0o644, "x")), `"a/up/escaped"`},
		{"bad sum", newc(true, member{name: "f", mode: sIFREG | 0o644, data: "abc", badSum: true}), `"f"`},
		{"truncated", newc(false, file("f", 0o644, "abc"))[:120], "unexpected EOF"},
		{"garbage", []byte("this is not an initrd"), "byte 0: neither a cpio archive"},
		{"garbage after an archive", cat(newc(false, file("f", 0o644, "")), []byte("junk")), fmt.Sprintf("at byte %d", len(newc(false, file("f", 0o644, ""))))},
		{"bzip2", cat(newc(false), []byte("BZh91AY&SY")), "bzip2"},
		{"odc", []byte("070707" + strings.Repeat("0", 200)), "odc"},
		{"empty", make([]byte, 64), "no cpio archive"},
		{"corrupt zstd", zstded(newc(false, tree()...))[:40], "zstd"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			parent := t.TempDir()
			dir := filepath.Join(parent, "root")
			os.Mkdir(dir, 0o755)
			t.Cleanup(func() { chmodWritable(parent) })
			err := Unpack(bytes.NewReader(tc.initrd), int64(len(tc.initrd)), dir)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("got %v, want an error with %s", err, tc.wantErr)
			}
			for _, outside := range []string{filepath.Join(parent, "escaped"), "/tmp/escaped"} {
				if _, err := os.Lstat(outside); err == nil {
					os.Remove("/tmp/escaped")
					t.Errorf("%s was written outside the root", outside)
				}
			}
		})
	}
}

// discard reads every entry, as Unpack does, without writing.
type discard struct{ names []string }

func (d *discard) entry(e *cpioEntry, data io.Reader) error {
	d.names = append(d.names, e.Name)
	_, err := io.Copy(io.Discard, data)
	return err
}
func (d *discard) endArchive() {}

func TestReadInitrdNames(t *testing.T) {
	initrd := cat(newc(false, dir(".", 0o755), dir("./etc", 0o755), file("./etc//x", 0o644, "")), gzipped(newc(false, file("y/", 0o644, ""))))
	var d discard
	if err := readInitrd(bytes.NewReader(initrd), int64(len(initrd)), &d); err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(d.names, " "), ". etc etc/x y"; got != want {
		t.Errorf("names %q, want %q", got, want)
	}
}

// entries records what a reader hands over, to compare two readers.
type entries []string

const endOfArchive = "end of archive"

func (l *entries) entry(e *cpioEntry, data io.Reader) error {
	b, err := io.ReadAll(data)
	*l = append(*l, fmt.Sprintf("%s %#o %q", e.Name, e.Mode, b))
	return err
}
func (l *entries) endArchive() { *l = append(*l, endOfArchive) }

// klauspost decodes zstd frames with klauspost's decoder alone.
func klauspost(b []byte) ([]byte, error) {
	dec, err := zstd.NewReader(bytes.NewReader(b), zstd.WithDecoderConcurrency(1))
	if err != nil {
		return nil, err
	}
	defer dec.Close()
	return io.ReadAll(dec)
}

// FuzzReadInitrd reads anything without a panic, and for zstd compares
// with an oracle: what our reader decodes (its frame walk, the decoder
// given exactly the frames, the archives after) must equal what
// klauspost's decoder makes of the same bytes, read by the cpio reader.
func FuzzReadInitrd(f *testing.F) {
	archive := newc(false, tree()...)
	f.Add(archive)
	f.Add(newc(true, tree()...))
	f.Add(cat(newc(false, file("a", 0o644, "b")), make([]byte, 8), gzipped(archive)))
	f.Add(zstded(archive))
	f.Add(cat(zstded(newc(false, file("a", 0o644, "b"))), zstded(archive)))
	f.Add(cat(zstded(archive), make([]byte, 4), newc(false, file("after", 0o644, "zstd"))))
	f.Add(cat([]byte{0x50, 0x2a, 0x4d, 0x18, 2, 0, 0, 0, 'h', 'i'}, zstded(archive))) // a skippable frame first
	f.Add(storedXZ(archive))
	f.Fuzz(func(t *testing.T, initrd []byte) {
		var got entries
		err := readInitrd(bytes.NewReader(initrd), int64(len(initrd)), &got)
		if !bytes.HasPrefix(initrd, zstdMagic) && !isZstdSkippable(initrd) {
			return
		}
		decoded, derr := klauspost(initrd)
		whole := derr == nil
		if !whole {
			// zstd, then other segments: the frames our reader measured
			// must decode alone.
			n, merr := zstdFramesLength(bytes.NewReader(initrd), 0, int64(len(initrd)))
			if err != nil || merr != nil {
				return
			}
			if decoded, derr = klauspost(initrd[:n]); derr != nil {
				t.Fatalf("our reader took %d bytes for zstd frames that klauspost's decoder refuses: %v", n, derr)
			}
		}
		var want entries
		werr := readArchives(bytes.NewReader(decoded), &want)
		if whole {
			if werr == nil && !slices.Contains(want, endOfArchive) {
				werr = errors.New("the initrd holds no cpio archive")
			}
			if (err == nil) != (werr == nil) {
				t.Fatalf("our reader: %v; klauspost's decoder and the cpio reader: %v", err, werr)
			}
			if err == nil && !slices.Equal(got, want) {
				t.Fatalf("our reader handed over\n%q\nklauspost's decoder gives\n%q", got, want)
			}
			return
		}
		if werr != nil || len(want) > len(got) || !slices.Equal(got[:len(want)], want) {
			t.Fatalf("our reader handed over\n%q\nthe zstd frames by klauspost's decoder give\n%q (%v)", got, want, werr)
		}
	})
}
