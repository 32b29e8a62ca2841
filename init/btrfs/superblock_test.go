package btrfs

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// mkfsBtrfs finds mkfs.btrfs, also in /usr/sbin, which is not on every
// user's PATH.
func mkfsBtrfs() (string, bool) {
	if p, err := exec.LookPath("mkfs.btrfs"); err == nil {
		return p, true
	}
	for _, p := range []string{"/usr/sbin/mkfs.btrfs", "/sbin/mkfs.btrfs"} {
		if _, err := os.Stat(p); err == nil {
			return p, true
		}
	}
	return "", false
}

// makeImages makes sparse 128 MiB image files in dir and formats them
// together with mkfs.btrfs args.
func makeImages(tb testing.TB, dir string, names []string, args ...string) []string {
	tb.Helper()
	mkfs, ok := mkfsBtrfs()
	if !ok {
		tb.Skip("mkfs.btrfs not installed")
	}
	var paths []string
	for _, n := range names {
		p := filepath.Join(dir, n)
		f, err := os.Create(p)
		if err != nil {
			tb.Fatal(err)
		}
		if err := f.Truncate(128 << 20); err != nil {
			tb.Fatal(err)
		}
		f.Close()
		paths = append(paths, p)
	}
	cmd := exec.Command(mkfs, append(append([]string{"-q"}, args...), paths...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("%v: %v\n%s", cmd.Args, err, out)
	}
	return paths
}

// dumpSuper runs `btrfs inspect-internal dump-super` on path and returns its
// "key value" lines; nil when the btrfs tool is missing.
func dumpSuper(t *testing.T, path string) map[string]string {
	t.Helper()
	bin, err := exec.LookPath("btrfs")
	if err != nil {
		t.Log("btrfs tool not installed: not comparing with dump-super")
		return nil
	}
	out, err := exec.Command(bin, "inspect-internal", "dump-super", path).Output()
	if err != nil {
		t.Fatalf("dump-super %s: %v", path, err)
	}
	m := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		k, v, ok := strings.Cut(line, "\t")
		if !ok || k == "" {
			continue
		}
		v = strings.TrimSpace(v)
		// "csum_type  0 (crc32c)", "dev_item.fsid  <uuid> [match]"
		if i := strings.IndexAny(v, " ("); i >= 0 && k != "label" {
			v = v[:i]
		}
		m[k] = v
	}
	return m
}

func readImage(t *testing.T, path string) *Superblock {
	t.Helper()
	sb, err := ReadDevice(path)
	if err != nil {
		t.Fatalf("ReadDevice(%s): %v", path, err)
	}
	return sb
}

// compareDump checks every field of sb against dump-super's view of path.
func compareDump(t *testing.T, path string, sb *Superblock) {
	t.Helper()
	d := dumpSuper(t, path)
	if d == nil {
		return
	}
	u := func(n uint64) string { return strconv.FormatUint(n, 10) }
	for _, c := range []struct{ key, got string }{
		{"fsid", sb.FSIDString()},
		{"label", sb.Label},
		{"generation", u(sb.Generation)},
		{"num_devices", u(sb.NumDevices)},
		{"total_bytes", u(sb.TotalBytes)},
		{"bytes_used", u(sb.BytesUsed)},
		{"sectorsize", u(uint64(sb.SectorSize))},
		{"nodesize", u(uint64(sb.NodeSize))},
		{"csum_type", u(uint64(sb.CsumType))},
		{"dev_item.uuid", sb.DevUUIDString()},
		{"dev_item.devid", u(sb.DevID)},
	} {
		want, ok := d[c.key]
		if !ok {
			t.Errorf("dump-super of %s prints no %s", path, c.key)
			continue
		}
		if c.got != want {
			t.Errorf("%s: %s = %q, dump-super says %q", path, c.key, c.got, want)
		}
	}
}

func TestRealImage(t *testing.T) {
	img := makeImages(t, t.TempDir(), []string{"disk.img"}, "-L", "homestaker")[0]
	sb := readImage(t, img)
	if sb.Label != "homestaker" || sb.NumDevices != 1 || sb.DevID != 1 || !sb.ChecksumVerified || sb.CsumType != CsumCRC32C {
		t.Errorf("got %+v", sb)
	}
	if sb.TotalBytes != 128<<20 {
		t.Errorf("TotalBytes = %d, want %d", sb.TotalBytes, 128<<20)
	}
	compareDump(t, img, sb)
}

func TestRealImageChecksumTypes(t *testing.T) {
	for _, c := range []struct {
		arg  string
		want uint16
	}{{"crc32c", CsumCRC32C}, {"xxhash", CsumXXHash64}, {"sha256", CsumSHA256}, {"blake2", CsumBLAKE2b}} {
		t.Run(c.arg, func(t *testing.T) {
			img := makeImages(t, t.TempDir(), []string{"disk.img"}, "--csum", c.arg, "-L", "homestaker")[0]
			sb := readImage(t, img)
			if sb.CsumType != c.want || !sb.ChecksumVerified || sb.Label != "homestaker" {
				t.Errorf("got %+v", sb)
			}
			compareDump(t, img, sb)

			// And a flipped byte in the middle of the label is caught.
			buf := readRaw(t, img)
			buf[offLabel+3] ^= 0x20
			if _, err := ParseSuperblock(buf); !errors.Is(err, ErrChecksum) {
				t.Errorf("flipped label byte: err = %v, want ErrChecksum", err)
			}
		})
	}
}

func TestRealRAID1(t *testing.T) {
	imgs := makeImages(t, t.TempDir(), []string{"a.img", "b.img"}, "-L", "x", "-d", "raid1", "-m", "raid1")
	a, b := readImage(t, imgs[0]), readImage(t, imgs[1])
	for i, sb := range []*Superblock{a, b} {
		if sb.Label != "x" || sb.NumDevices != 2 {
			t.Errorf("%s: Label %q NumDevices %d, want x and 2", imgs[i], sb.Label, sb.NumDevices)
		}
		compareDump(t, imgs[i], sb)
	}
	if a.FSID != b.FSID {
		t.Errorf("members have different fsids %s and %s", a.FSIDString(), b.FSIDString())
	}
	if a.DevID == b.DevID || a.DevUUID == b.DevUUID {
		t.Errorf("members share devid %d/%d or uuid %s/%s", a.DevID, b.DevID, a.DevUUIDString(), b.DevUUIDString())
	}
	if a.DevID+b.DevID != 3 {
		t.Errorf("devids %d and %d, want 1 and 2", a.DevID, b.DevID)
	}
}

// The copy at 64 MiB says so in its bytenr and is not taken for a primary.
func TestRealMirrorIsNotPrimary(t *testing.T) {
	img := makeImages(t, t.TempDir(), []string{"disk.img"}, "-L", "homestaker")[0]
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, SuperblockSize)
	if _, err := f.ReadAt(buf, 64<<20); err != nil {
		t.Fatal(err)
	}
	_, err = ParseSuperblock(buf)
	if err == nil || errors.Is(err, ErrNotBtrfs) || errors.Is(err, ErrChecksum) || !strings.Contains(err.Error(), strconv.Itoa(64<<20)) {
		t.Errorf("mirror at 64 MiB: err = %v, want one naming its bytenr", err)
	}
}

func readRaw(t *testing.T, path string) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, SuperblockSize)
	if _, err := f.ReadAt(buf, SuperblockOffset); err != nil {
		t.Fatal(err)
	}
	return buf
}

type synth struct {
	fsid, devUUID [16]byte
	devID, numDev uint64
	label         string
	csumType      uint16
}

// build lays out a superblock the way the kernel does, with a correct
// checksum, so that the parser is tested without mkfs.btrfs too.
func (s synth) build() []byte {
	b := make([]byte, SuperblockSize)
	le := binary.LittleEndian
	copy(b[offFSID:], s.fsid[:])
	le.PutUint64(b[offBytenr:], SuperblockOffset)
	le.PutUint64(b[0x38:], 1) // flags: WRITTEN
	copy(b[offMagic:], magic)
	le.PutUint64(b[offGeneration:], 6)
	le.PutUint64(b[offTotalBytes:], 256<<20)
	le.PutUint64(b[offBytesUsed:], 147456)
	le.PutUint64(b[0x80:], 6) // root_dir_objectid
	le.PutUint64(b[offNumDevices:], s.numDev)
	le.PutUint32(b[offSectorSize:], 4096)
	le.PutUint32(b[offNodeSize:], 16384)
	le.PutUint32(b[0x98:], 16384)
	le.PutUint32(b[0x9c:], 4096)
	le.PutUint16(b[offCsumType:], s.csumType)
	le.PutUint64(b[offDevItem+devItemDevID:], s.devID)
	le.PutUint64(b[offDevItem+8:], 128<<20) // dev_item.total_bytes
	copy(b[offDevItem+devItemUUID:], s.devUUID[:])
	copy(b[offDevItem+82:], s.fsid[:]) // dev_item.fsid
	copy(b[offLabel:offLabel+labelSize], s.label)
	fixChecksum(b)
	return b
}

// fixChecksum rewrites the csum field of a superblock for its csum_type;
// it leaves an unknown type alone.
func fixChecksum(b []byte) {
	sum, err := checksum(binary.LittleEndian.Uint16(b[offCsumType:]), b[csumStart:SuperblockSize])
	if err != nil {
		return
	}
	clear(b[offCsum:csumStart])
	copy(b[offCsum:], sum)
}

var testSynth = synth{
	fsid:     [16]byte{0x6d, 0x5f, 0x87, 0x21, 0x49, 0x9f, 0x42, 0x6d, 0x98, 0xc9, 0x96, 0x25, 0x1c, 0xd3, 0x8f, 0x35},
	devUUID:  [16]byte{0xa3, 0xba, 0x2d, 0x53, 0x61, 0x39, 0x48, 0xf6, 0x8e, 0x76, 0x98, 0x0f, 0xc6, 0xcc, 0xd7, 0x51},
	devID:    2,
	numDev:   3,
	label:    "homestaker",
	csumType: CsumCRC32C,
}

func TestParseSynthetic(t *testing.T) {
	for _, ct := range []uint16{CsumCRC32C, CsumXXHash64, CsumSHA256, CsumBLAKE2b} {
		s := testSynth
		s.csumType = ct
		sb, err := ParseSuperblock(s.build())
		if err != nil {
			t.Fatalf("%s: %v", csumName(ct), err)
		}
		want := Superblock{
			FSID: s.fsid, DevUUID: s.devUUID, DevID: 2, Label: "homestaker",
			Generation: 6, NumDevices: 3, TotalBytes: 256 << 20, BytesUsed: 147456,
			SectorSize: 4096, NodeSize: 16384, CsumType: ct, ChecksumVerified: true,
		}
		if *sb != want {
			t.Errorf("%s:\n got %+v\nwant %+v", csumName(ct), *sb, want)
		}
	}
}

func TestUUIDStrings(t *testing.T) {
	sb := &Superblock{FSID: testSynth.fsid, DevUUID: testSynth.devUUID}
	if got, want := sb.FSIDString(), "6d5f8721-499f-426d-98c9-96251cd38f35"; got != want {
		t.Errorf("FSIDString = %q, want %q", got, want)
	}
	if got, want := sb.DevUUIDString(), "a3ba2d53-6139-48f6-8e76-980fc6ccd751"; got != want {
		t.Errorf("DevUUIDString = %q, want %q", got, want)
	}
}

func TestLabels(t *testing.T) {
	long := strings.Repeat("L", labelSize) // no NUL at all: all 256 bytes
	for _, label := range []string{"", "homestakeros", "with space", "ünïcode", long[:255], long} {
		s := testSynth
		s.label = label
		sb, err := ParseSuperblock(s.build())
		if err != nil {
			t.Fatal(err)
		}
		if sb.Label != label {
			t.Errorf("Label = %q, want %q", sb.Label, label)
		}
	}
}

func TestCorruption(t *testing.T) {
	le := binary.LittleEndian
	for _, c := range []struct {
		name           string
		mutate         func([]byte) []byte
		notBtrfs, csum bool // expected sentinel, else some other error
		msg            string
	}{
		{name: "flipped csum byte", mutate: func(b []byte) []byte { b[1] ^= 1; return b }, csum: true},
		{name: "flipped fsid byte", mutate: func(b []byte) []byte { b[offFSID] ^= 0x80; return b }, csum: true},
		{name: "flipped label byte", mutate: func(b []byte) []byte { b[offLabel] ^= 1; return b }, csum: true},
		{name: "flipped last byte", mutate: func(b []byte) []byte { b[SuperblockSize-1] ^= 1; return b }, csum: true},
		{name: "flipped devid", mutate: func(b []byte) []byte { b[offDevItem] ^= 4; return b }, csum: true},
		{name: "wrong magic", mutate: func(b []byte) []byte { b[offMagic] = 'X'; fixChecksum(b); return b }, notBtrfs: true},
		{name: "zeros", mutate: func(b []byte) []byte { return make([]byte, SuperblockSize) }, notBtrfs: true},
		{name: "empty", mutate: func(b []byte) []byte { return nil }, notBtrfs: true},
		{name: "cut before magic", mutate: func(b []byte) []byte { return b[:offMagic+4] }, notBtrfs: true},
		{name: "truncated", mutate: func(b []byte) []byte { return b[:SuperblockSize-1] }, msg: "truncated"},
		{name: "mirror bytenr", mutate: func(b []byte) []byte { le.PutUint64(b[offBytenr:], 64<<20); fixChecksum(b); return b }, msg: "67108864"},
		{name: "unknown csum type", mutate: func(b []byte) []byte { le.PutUint16(b[offCsumType:], 4); return b }, msg: "checksum type 4"},
		{name: "csum type changed", mutate: func(b []byte) []byte { le.PutUint16(b[offCsumType:], CsumSHA256); return b }, csum: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseSuperblock(c.mutate(testSynth.build()))
			switch {
			case err == nil:
				t.Fatal("accepted")
			case errors.Is(err, ErrNotBtrfs) != c.notBtrfs:
				t.Errorf("err = %v; ErrNotBtrfs want %v", err, c.notBtrfs)
			case errors.Is(err, ErrChecksum) != c.csum:
				t.Errorf("err = %v; ErrChecksum want %v", err, c.csum)
			case !strings.Contains(err.Error(), c.msg):
				t.Errorf("err = %v, want it to mention %q", err, c.msg)
			}
		})
	}
}

// A longer buffer is fine: only the first 4 KiB count.
func TestParseLongerBuffer(t *testing.T) {
	b := append(testSynth.build(), 0xff, 0xff)
	if _, err := ParseSuperblock(b); err != nil {
		t.Fatal(err)
	}
}

type errReaderAt struct{ err error }

func (e errReaderAt) ReadAt(p []byte, off int64) (int, error) { return 0, e.err }

func TestReadSuperblock(t *testing.T) {
	dev := make([]byte, SuperblockOffset+SuperblockSize) // ends right after the superblock
	copy(dev[SuperblockOffset:], testSynth.build())
	sb, err := ReadSuperblock(bytes.NewReader(dev))
	if err != nil || sb.Label != "homestaker" {
		t.Fatalf("ReadSuperblock = %+v, %v", sb, err)
	}

	if _, err := ReadSuperblock(bytes.NewReader(dev[:SuperblockOffset+100])); !errors.Is(err, ErrNotBtrfs) {
		t.Errorf("device too small: err = %v, want ErrNotBtrfs", err)
	}
	if _, err := ReadSuperblock(bytes.NewReader(make([]byte, 1<<20))); !errors.Is(err, ErrNotBtrfs) {
		t.Errorf("zeroed device: err = %v, want ErrNotBtrfs", err)
	}
	eio := errors.New("input/output error")
	if _, err := ReadSuperblock(errReaderAt{eio}); !errors.Is(err, eio) || errors.Is(err, ErrNotBtrfs) {
		t.Errorf("I/O error: err = %v, want it passed on and not ErrNotBtrfs", err)
	}
	if _, err := ReadSuperblock(errReaderAt{io.EOF}); !errors.Is(err, ErrNotBtrfs) {
		t.Errorf("EOF: err = %v, want ErrNotBtrfs", err)
	}
}

func TestChecksumVectors(t *testing.T) {
	for _, c := range []struct {
		in   string
		want uint64
	}{
		{"", 0xef46db3751d8e999},
		{"a", 0xd24ec4f1a98c6e5b},
		{"abc", 0x44bc2cf5ad770999},
		{"Nobody inspects the spammish repetition", 0xfbcea83c8a378bf1},
	} {
		if got := xxh64([]byte(c.in), 0); got != c.want {
			t.Errorf("xxh64(%q) = %#x, want %#x", c.in, got, c.want)
		}
	}
	for _, c := range []struct{ in, want string }{
		{"", "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8"},
		{"abc", "bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319"},
	} {
		got, err := checksum(CsumBLAKE2b, []byte(c.in))
		if err != nil || hex.EncodeToString(got) != c.want {
			t.Errorf("BLAKE2b checksum of %q = %x, %v; want %s", c.in, got, err, c.want)
		}
	}
}

func ExampleSuperblock_FSIDString() {
	sb := &Superblock{FSID: [16]byte{0x6d, 0x5f, 0x87, 0x21, 0x49, 0x9f, 0x42, 0x6d, 0x98, 0xc9, 0x96, 0x25, 0x1c, 0xd3, 0x8f, 0x35}}
	fmt.Println(sb.FSIDString())
	// Output: 6d5f8721-499f-426d-98c9-96251cd38f35
}
