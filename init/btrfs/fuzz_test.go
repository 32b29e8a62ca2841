package btrfs

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"testing"
)

// FuzzParseSuperblock: never panics, on any bytes. The input is also laid
// over a valid superblock (the synthetic one, so that the corpus means the
// same on every machine) and, with fix set, given a correct checksum, so
// that the fuzzer gets past the checksum; then a buffer with the magic, the
// primary's bytenr and a known csum_type must parse, and the fields must
// come from where the layout says. Only the first fuzzHead bytes of the
// input count (every field the parser reads lies there): the fuzzer's
// minimiser is quadratic and stalls the run for a minute on 4 KiB inputs.
func FuzzParseSuperblock(f *testing.F) {
	const fuzzHead = offLabel + labelSize
	template := testSynth.build()
	for _, ct := range []uint16{CsumCRC32C, CsumXXHash64, CsumSHA256, CsumBLAKE2b} {
		s := testSynth
		s.csumType = ct
		f.Add(s.build(), false)
	}
	if _, ok := mkfsBtrfs(); ok {
		img := makeImages(f, f.TempDir(), []string{"seed.img"}, "-L", "homestaker")[0]
		buf, err := os.ReadFile(img)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(buf[SuperblockOffset:SuperblockOffset+SuperblockSize], false)
		f.Add(buf[SuperblockOffset:SuperblockOffset+offLabel+16], true)
	}
	f.Add([]byte{}, false)
	f.Add([]byte("_BHRfS_M"), false)
	f.Add(make([]byte, offCsumType+2), true)

	f.Fuzz(func(t *testing.T, head []byte, fix bool) {
		if len(head) > fuzzHead {
			head = head[:fuzzHead]
		}
		// Any bytes up to fuzzHead, directly: the short-input paths.
		if sb, err := ParseSuperblock(head); err == nil {
			checkFields(t, head, sb)
		} else if sb != nil {
			t.Fatal("Superblock with an error")
		}

		buf := bytes.Clone(template)
		copy(buf, head)
		if fix {
			fixChecksum(buf)
		}
		le := binary.LittleEndian
		sb, err := ParseSuperblock(buf)
		if err != nil {
			if errors.Is(err, ErrNotBtrfs) && bytes.Equal(buf[offMagic:offMagic+8], magic) {
				t.Fatalf("magic present, but ErrNotBtrfs: %v", err)
			}
			if fix && le.Uint16(buf[offCsumType:]) <= CsumBLAKE2b &&
				le.Uint64(buf[offBytenr:]) == SuperblockOffset && bytes.Equal(buf[offMagic:offMagic+8], magic) {
				t.Fatalf("valid superblock refused: %v", err)
			}
			return
		}
		checkFields(t, buf, sb)
	})
}

func checkFields(t *testing.T, buf []byte, sb *Superblock) {
	t.Helper()
	le := binary.LittleEndian
	if !sb.ChecksumVerified || len(sb.Label) > labelSize || bytes.IndexByte([]byte(sb.Label), 0) >= 0 {
		t.Fatalf("bad result %+v", sb)
	}
	if sb.NumDevices != le.Uint64(buf[offNumDevices:]) || sb.DevID != le.Uint64(buf[offDevItem:]) ||
		sb.CsumType != le.Uint16(buf[offCsumType:]) || sb.Generation != le.Uint64(buf[offGeneration:]) ||
		!bytes.Equal(sb.FSID[:], buf[offFSID:offFSID+16]) ||
		!bytes.Equal(sb.DevUUID[:], buf[offDevItem+devItemUUID:offDevItem+devItemUUID+16]) ||
		!bytes.HasPrefix(buf[offLabel:], []byte(sb.Label)) {
		t.Fatalf("fields not at their offsets: %+v", sb)
	}
}
