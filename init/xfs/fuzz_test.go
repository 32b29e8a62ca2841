package xfs

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"testing"
)

// FuzzParseSuperblock: never panics, on any bytes. The input is also laid
// over a superblock made by mkfs.xfs and, with fix set, given a correct
// checksum; then a buffer with the magic, a version 5 number, the sector
// size of the buffer and a valid block size must parse, with the fields
// from where the layout says.
func FuzzParseSuperblock(f *testing.F) {
	b, err := os.ReadFile(makeImage(f, "-L", "homestaker"))
	if err != nil {
		f.Fatal(err)
	}
	template := bytes.Clone(b[:minSectorSize])
	f.Add(bytes.Clone(template), false)
	f.Add(bytes.Clone(template[:offFname+labelSize]), true)
	if b, err := os.ReadFile(makeImage(f, "-m", "crc=0", "-L", "homestaker")); err == nil {
		f.Add(bytes.Clone(b[:minSectorSize]), false)
	}
	f.Add([]byte{}, false)
	f.Add([]byte("XFSB"), false)

	f.Fuzz(func(t *testing.T, head []byte, fix bool) {
		if len(head) > maxSectorSize {
			head = head[:maxSectorSize]
		}
		if sb, err := ParseSuperblock(head); err == nil {
			checkFields(t, head, sb)
		} else if sb != nil {
			t.Fatal("Superblock with an error")
		}
		if len(head) > minSectorSize {
			head = head[:minSectorSize]
		}
		buf := bytes.Clone(template)
		copy(buf, head)
		if fix {
			binary.LittleEndian.PutUint32(buf[offCRC:], sbCRC(buf))
		}
		be := binary.BigEndian
		sb, err := ParseSuperblock(buf)
		if err != nil {
			magicOK := bytes.Equal(buf[:4], magic)
			if errors.Is(err, ErrNotXFS) && magicOK {
				t.Fatalf("magic present, but ErrNotXFS: %v", err)
			}
			bs := be.Uint32(buf[offBlockSize:])
			if fix && magicOK && be.Uint16(buf[offVersionNum:])&0xf == 5 && be.Uint16(buf[offSectSize:]) == minSectorSize &&
				bs >= 512 && bs <= 65536 && bs&(bs-1) == 0 && buf[offInProgress] == 0 {
				t.Fatalf("valid superblock refused: %v", err)
			}
			return
		}
		checkFields(t, buf, sb)
	})
}

func checkFields(t *testing.T, buf []byte, sb *Superblock) {
	t.Helper()
	be := binary.BigEndian
	if len(sb.Label) > labelSize || bytes.IndexByte([]byte(sb.Label), 0) >= 0 ||
		!bytes.HasPrefix(buf[offFname:], []byte(sb.Label)) ||
		!bytes.Equal(sb.UUID[:], buf[offUUID:offUUID+16]) ||
		sb.BlockSize != be.Uint32(buf[offBlockSize:]) || sb.SectorSize != be.Uint16(buf[offSectSize:]) ||
		sb.DBlocks != be.Uint64(buf[offDBlocks:]) || sb.Version != int(be.Uint16(buf[offVersionNum:])&0xf) {
		t.Fatalf("fields not at their offsets: %+v", sb)
	}
}
