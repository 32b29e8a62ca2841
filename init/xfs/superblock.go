// Package xfs reads the primary superblock of an XFS filesystem: the facts
// the storage stage and `homestaker prepare`/`check` need to find a volume
// by label. It parses bytes and mounts nothing; the one layout of the XFS
// superblock lives here. Whether the log is clean is not in the
// superblock (xfs_logprint reads the log itself), so it is not told here.
package xfs

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/homestaker/homestaker-boot/init/superblock"
)

// SuperblockOffset is where the primary superblock lives: sector 0 of
// allocation group 0.
const SuperblockOffset = 0

// MagicOffset is where the magic lies on the device: the offset blkid and
// wipefs(8) give for an XFS signature.
const MagicOffset = SuperblockOffset + offMagic

// maxSectorSize is the largest sector size XFS allows; the superblock
// (and its checksum, on a version 5 filesystem) spans one sector.
const maxSectorSize = 32768

// minSectorSize is the smallest sector size; ReadSuperblock reads this
// much first, then the rest of the sector when it is larger.
const minSectorSize = 512

// Offsets in struct xfs_dsb (fs/xfs/libxfs/xfs_format.h), big-endian except
// sb_crc. Only the fields read here are named.
const (
	offMagic      = 0   // "XFSB"
	offBlockSize  = 4   // u32
	offDBlocks    = 8   // u64
	offUUID       = 32  // u8[16]
	offVersionNum = 100 // u16: low 4 bits the version
	offSectSize   = 102 // u16
	offFname      = 108 // char[12]
	labelSize     = 12
	offInProgress = 126 // u8: mkfs has not finished
	offCRC        = 224 // __le32 crc32c of the sector with this field zero
)

// MaxLabel is the longest label in bytes the superblock holds (sb_fname);
// mkfs.xfs refuses a longer one, and so does `homestaker prepare`, before
// formatting.
const MaxLabel = labelSize

var magic = []byte("XFSB")

// ErrNotXFS means the bytes hold no XFS superblock (wrong magic, or a
// device too small to hold one). Test for it with errors.Is.
var ErrNotXFS = errors.New("no XFS superblock (magic XFSB not found at byte 0)")

// ErrChecksum means a version 5 superblock's crc32c does not match: a
// damaged superblock, whose label must not be trusted.
var ErrChecksum = errors.New("XFS superblock checksum does not match")

// Superblock is what the primary superblock says about its filesystem.
type Superblock struct {
	UUID       [16]byte
	Label      string // up to the first NUL; "" when none
	Version    int    // 4 or 5
	BlockSize  uint32
	SectorSize uint16
	DBlocks    uint64 // data blocks
	// ChecksumVerified is true on a version 5 filesystem (the default
	// since xfsprogs 3.2.3), whose superblock crc32c was computed and
	// matched; version 4 superblocks carry no checksum.
	ChecksumVerified bool
}

// UUIDString is the filesystem UUID as blkid and xfs_db print it.
func (s *Superblock) UUIDString() string {
	return superblock.UUID(s.UUID)
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// SectorSize returns the sector size a superblock's first bytes give, so
// that a reader knows how much to read for ParseSuperblock; 0 when buf
// holds no XFS magic.
func SectorSize(buf []byte) int {
	if len(buf) < offSectSize+2 || !bytes.Equal(buf[offMagic:offMagic+4], magic) {
		return 0
	}
	return int(binary.BigEndian.Uint16(buf[offSectSize:]))
}

// ParseSuperblock parses a primary superblock: buf holds its sector (more
// is ignored). It checks the magic (else ErrNotXFS), the version, the
// sector and block sizes, that mkfs finished, and on version 5 the checksum
// (else an error wrapping ErrChecksum).
func ParseSuperblock(buf []byte) (*Superblock, error) {
	if len(buf) < len(magic) || !bytes.Equal(buf[offMagic:offMagic+4], magic) {
		return nil, ErrNotXFS
	}
	if len(buf) < minSectorSize {
		return nil, fmt.Errorf("XFS superblock truncated: %d bytes, want %d", len(buf), minSectorSize)
	}
	be := binary.BigEndian
	sect := int(be.Uint16(buf[offSectSize:]))
	if sect < minSectorSize || sect > maxSectorSize || sect&(sect-1) != 0 {
		return nil, fmt.Errorf("XFS superblock gives sector size %d; XFS allows powers of two from 512 to 32768", sect)
	}
	if len(buf) < sect {
		return nil, fmt.Errorf("XFS superblock truncated: %d bytes, its sector is %d", len(buf), sect)
	}
	buf = buf[:sect]
	version := int(be.Uint16(buf[offVersionNum:]) & 0xf)
	if version != 4 && version != 5 {
		return nil, fmt.Errorf("XFS superblock version %d; the kernel mounts versions 4 and 5", version)
	}
	verified := false
	if version == 5 {
		want := sbCRC(buf)
		if got := binary.LittleEndian.Uint32(buf[offCRC:]); got != want {
			return nil, fmt.Errorf("%w (stored %#08x, computed %#08x): the superblock is damaged", ErrChecksum, got, want)
		}
		verified = true
	}
	bs := be.Uint32(buf[offBlockSize:])
	if bs < 512 || bs > 65536 || bs&(bs-1) != 0 {
		return nil, fmt.Errorf("XFS superblock gives block size %d; XFS allows powers of two from 512 to 65536", bs)
	}
	if buf[offInProgress] != 0 {
		return nil, errors.New("XFS superblock says mkfs.xfs did not finish (sb_inprogress set): the filesystem is incomplete")
	}
	s := &Superblock{
		Label:            superblock.CString(buf[offFname : offFname+labelSize]),
		Version:          version,
		BlockSize:        bs,
		SectorSize:       uint16(sect),
		DBlocks:          be.Uint64(buf[offDBlocks:]),
		ChecksumVerified: verified,
	}
	copy(s.UUID[:], buf[offUUID:])
	return s, nil
}

// sbCRC is xfs_start_cksum over the superblock's sector: crc32c of the
// sector with the sb_crc field taken as zero.
func sbCRC(sector []byte) uint32 {
	crc := crc32.Update(0, castagnoli, sector[:offCRC])
	crc = crc32.Update(crc, castagnoli, []byte{0, 0, 0, 0})
	return crc32.Update(crc, castagnoli, sector[offCRC+4:])
}

// ReadSuperblock reads and parses the primary superblock of a device or
// image file. A device too small to hold one gives ErrNotXFS; a read error
// is returned as it is.
func ReadSuperblock(r io.ReaderAt) (*Superblock, error) {
	buf := make([]byte, minSectorSize)
	if err := superblock.Read(r, buf, SuperblockOffset, ErrNotXFS, "XFS"); err != nil {
		return nil, err
	}
	if n := SectorSize(buf); n > minSectorSize && n <= maxSectorSize {
		buf = make([]byte, n)
		if err := superblock.Read(r, buf, SuperblockOffset, ErrNotXFS, "XFS"); err != nil {
			return nil, err
		}
	}
	return ParseSuperblock(buf)
}

// ReadDevice is ReadSuperblock of the device or image file at path.
func ReadDevice(path string) (*Superblock, error) {
	return superblock.ReadDevice(path, ReadSuperblock)
}
