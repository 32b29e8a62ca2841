package xfs

import (
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// tool finds an xfsprogs program, also in /usr/sbin, which is not on every
// user's PATH.
func tool(tb testing.TB, name string) string {
	tb.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, d := range []string{"/usr/sbin", "/sbin"} {
		if _, err := os.Stat(filepath.Join(d, name)); err == nil {
			return filepath.Join(d, name)
		}
	}
	tb.Skipf("%s not installed (xfsprogs)", name)
	return ""
}

// makeImage makes a sparse 320 MiB image file (mkfs.xfs refuses less than
// 300 MiB) formatted by mkfs.xfs args.
func makeImage(tb testing.TB, args ...string) string {
	tb.Helper()
	p := filepath.Join(tb.TempDir(), "xfs.img")
	f, err := os.Create(p)
	if err != nil {
		tb.Fatal(err)
	}
	if err := f.Truncate(320 << 20); err != nil {
		tb.Fatal(err)
	}
	f.Close()
	cmd := exec.Command(tool(tb, "mkfs.xfs"), append(append([]string{"-q", "-f"}, args...), p)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("%v: %v\n%s", cmd.Args, err, out)
	}
	return p
}

// xfsDB returns xfs_db's view of the primary superblock's fields.
func xfsDB(t *testing.T, path string) map[string]string {
	t.Helper()
	out, err := exec.Command(tool(t, "xfs_db"), "-r", "-c", "sb 0", "-c", "print uuid fname blocksize sectsize dblocks versionnum", path).CombinedOutput()
	if err != nil {
		t.Fatalf("xfs_db: %v\n%s", err, out)
	}
	m := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(line, " = "); ok {
			m[k] = v
		}
	}
	return m
}

// The parser agrees with xfs_db on filesystems mkfs.xfs makes: the
// default (version 5, checksummed), 4 KiB sectors, and the deprecated
// version 4 older installs still have.
func TestMkfsImages(t *testing.T) {
	for _, c := range []struct {
		name    string
		args    []string
		version int
	}{
		{"default", []string{"-L", "homestaker"}, 5},
		{"4 KiB sectors", []string{"-s", "size=4096", "-L", "homestakeros"}, 5},
		{"full label", []string{"-L", "twelve-chars"}, 5},
		{"version 4", []string{"-m", "crc=0", "-L", "homestaker"}, 4},
		{"no label", nil, 5},
	} {
		t.Run(c.name, func(t *testing.T) {
			img := makeImage(t, c.args...)
			sb, err := ReadDevice(img)
			if err != nil {
				t.Fatalf("ReadDevice: %v", err)
			}
			d := xfsDB(t, img)
			label := strings.TrimRight(strings.Trim(d["fname"], `"`), `\0`)
			bs, _ := strconv.ParseUint(d["blocksize"], 10, 32)
			ss, _ := strconv.ParseUint(d["sectsize"], 10, 16)
			db, _ := strconv.ParseUint(d["dblocks"], 10, 64)
			if sb.Label != label || sb.UUIDString() != d["uuid"] || uint64(sb.BlockSize) != bs || uint64(sb.SectorSize) != ss || sb.DBlocks != db {
				t.Errorf("got %+v (uuid %s); xfs_db: %v", sb, sb.UUIDString(), d)
			}
			if sb.Version != c.version || sb.ChecksumVerified != (c.version == 5) {
				t.Errorf("version %d, checksum verified %v; want version %d", sb.Version, sb.ChecksumVerified, c.version)
			}
		})
	}
}

func TestRefusals(t *testing.T) {
	b, err := os.ReadFile(makeImage(t, "-L", "homestaker"))
	if err != nil {
		t.Fatal(err)
	}
	good := b[:minSectorSize]
	be := binary.BigEndian
	mod := func(f func(b []byte)) []byte {
		b := append([]byte(nil), good...)
		f(b)
		return b
	}
	fix := func(b []byte) { binary.LittleEndian.PutUint32(b[offCRC:], sbCRC(b)) }
	for _, c := range []struct {
		name string
		buf  []byte
		want error
		msg  string
	}{
		{"empty", nil, ErrNotXFS, ""},
		{"zeros", make([]byte, minSectorSize), ErrNotXFS, ""},
		{"truncated", good[:200], nil, "truncated"},
		{"label changed, checksum not", mod(func(b []byte) { b[offFname] = 'H' }), ErrChecksum, ""},
		{"sector size", mod(func(b []byte) { be.PutUint16(b[offSectSize:], 1000); fix(b) }), nil, "sector size 1000"},
		{"sector longer than the buffer", mod(func(b []byte) { be.PutUint16(b[offSectSize:], 4096); fix(b) }), nil, "its sector is 4096"},
		{"version", mod(func(b []byte) { be.PutUint16(b[offVersionNum:], 0xb4a6); fix(b) }), nil, "version 6"},
		{"block size", mod(func(b []byte) { be.PutUint32(b[offBlockSize:], 3000); fix(b) }), nil, "block size 3000"},
		{"mkfs unfinished", mod(func(b []byte) { b[offInProgress] = 1; fix(b) }), nil, "did not finish"},
	} {
		t.Run(c.name, func(t *testing.T) {
			sb, err := ParseSuperblock(c.buf)
			if err == nil || sb != nil {
				t.Fatalf("got %+v, %v", sb, err)
			}
			if c.want != nil && !errors.Is(err, c.want) {
				t.Errorf("error %v, want %v", err, c.want)
			}
			if c.msg != "" && !strings.Contains(err.Error(), c.msg) {
				t.Errorf("error %q lacks %q", err, c.msg)
			}
		})
	}
	relabelled := mod(func(b []byte) { copy(b[offFname:], "other\x00"); fix(b) })
	if sb, err := ParseSuperblock(relabelled); err != nil || sb.Label != "other" {
		t.Errorf("relabelled: %+v, %v", sb, err)
	}
}

func TestShortDevice(t *testing.T) {
	p := filepath.Join(t.TempDir(), "short")
	if err := os.WriteFile(p, []byte("XFSB"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadDevice(p); !errors.Is(err, ErrNotXFS) {
		t.Errorf("got %v", err)
	}
}
