package ext4

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"os"
	"testing"
)

func crc32Castagnoli(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// FuzzParseSuperblock: never panics, on any bytes. The input is also laid
// over a superblock made by mkfs.ext4 and, with fix set, given a correct
// checksum, so that the fuzzer gets past it; then a buffer with the magic,
// crc32c as its checksum type, no journal-device flag and a block size
// ext4 knows must parse, with the fields from where the layout says.
func FuzzParseSuperblock(f *testing.F) {
	img := makeImage(f, "-L", "homestaker")
	b, err := os.ReadFile(img)
	if err != nil {
		f.Fatal(err)
	}
	template := b[SuperblockOffset : SuperblockOffset+SuperblockSize]
	f.Add(bytes.Clone(template), false)
	f.Add(bytes.Clone(template[:offVolumeName+labelSize]), true)
	plain := readSuperNoCsum(f)
	f.Add(plain, false)
	f.Add([]byte{}, false)
	f.Add([]byte{0x53, 0xef}, false)

	f.Fuzz(func(t *testing.T, head []byte, fix bool) {
		if len(head) > SuperblockSize {
			head = head[:SuperblockSize]
		}
		if sb, err := ParseSuperblock(head); err == nil {
			checkFields(t, head, sb)
		} else if sb != nil {
			t.Fatal("Superblock with an error")
		}
		buf := bytes.Clone(template)
		copy(buf, head)
		le := binary.LittleEndian
		if fix {
			le.PutUint32(buf[offChecksum:], ^crc32Castagnoli(buf[:offChecksum]))
		}
		sb, err := ParseSuperblock(buf)
		if err != nil {
			magicOK := le.Uint16(buf[offMagic:]) == magic
			if errors.Is(err, ErrNotExt4) && magicOK {
				t.Fatalf("magic present, but ErrNotExt4: %v", err)
			}
			csumOK := le.Uint32(buf[offFeatureRO:])&roCompatMetaCsum == 0 || buf[offChecksumType] == 1
			if fix && magicOK && csumOK && le.Uint32(buf[offFeatureInc:])&incompatJournalDev == 0 && le.Uint32(buf[offLogBlockSize:]) <= 6 {
				t.Fatalf("valid superblock refused: %v", err)
			}
			return
		}
		checkFields(t, buf, sb)
	})
}

func readSuperNoCsum(f *testing.F) []byte {
	b, err := os.ReadFile(makeImage(f, "-L", "homestaker", "-O", "^metadata_csum"))
	if err != nil {
		f.Fatal(err)
	}
	return b[SuperblockOffset : SuperblockOffset+SuperblockSize]
}

func checkFields(t *testing.T, buf []byte, sb *Superblock) {
	t.Helper()
	le := binary.LittleEndian
	if len(sb.Label) > labelSize || bytes.IndexByte([]byte(sb.Label), 0) >= 0 ||
		!bytes.HasPrefix(buf[offVolumeName:], []byte(sb.Label)) ||
		!bytes.Equal(sb.UUID[:], buf[offUUID:offUUID+16]) ||
		sb.BlockSize != 1024<<le.Uint32(buf[offLogBlockSize:]) ||
		uint32(sb.Blocks) != le.Uint32(buf[offBlocksCountLo:]) ||
		sb.Clean != (le.Uint16(buf[offState:])&stateValid != 0) ||
		sb.NeedsRecovery != (le.Uint32(buf[offFeatureInc:])&incompatRecover != 0) {
		t.Fatalf("fields not at their offsets: %+v", sb)
	}
}
