// Package ext4 reads the superblock of an ext4 (or ext2/ext3) filesystem:
// the facts the storage stage and `homestaker prepare`/`check` need to find
// a volume by label and to tell whether it was unmounted cleanly. It
// parses bytes and mounts nothing; the one layout of the ext4 superblock
// lives here.
package ext4

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/homestaker/homestaker-boot/init/superblock"
)

// SuperblockOffset is where the primary superblock starts, whatever the
// block size: the first 1024 bytes are left for a boot loader.
const SuperblockOffset = 1024

// SuperblockSize is the size of the superblock on disk; with metadata_csum
// its last four bytes are a crc32c of the rest.
const SuperblockSize = 1024

// MagicOffset is where the magic lies on the device: the offset blkid and
// wipefs(8) give for an ext2/3/4 signature.
const MagicOffset = SuperblockOffset + offMagic

// Offsets in struct ext4_super_block (fs/ext4/ext4.h), little-endian.
// Only the fields read here are named.
const (
	offInodesCount   = 0x00 // u32
	offBlocksCountLo = 0x04 // u32
	offLogBlockSize  = 0x18 // u32: block size is 1024 << this
	offMagic         = 0x38 // u16 0xEF53
	offState         = 0x3a // u16
	offRevLevel      = 0x4c // u32
	offFeatureCompat = 0x5c // u32
	offFeatureInc    = 0x60 // u32
	offFeatureRO     = 0x64 // u32
	offUUID          = 0x68 // u8[16]
	offVolumeName    = 0x78 // char[16]
	labelSize        = 16
	offBlocksCountHi = 0x150 // u32, with INCOMPAT_64BIT
	offChecksumType  = 0x175 // u8: 1 crc32c
	offChecksum      = 0x3fc // u32: crc32c of [0, offChecksum)

	magic = 0xef53

	// s_state bits.
	stateValid  = 0x1 // unmounted cleanly
	stateErrors = 0x2 // errors detected

	compatHasJournal   = 0x4
	incompatRecover    = 0x4  // the journal needs replaying
	incompatJournalDev = 0x8  // an external journal, not a filesystem
	incompat64Bit      = 0x80 // s_blocks_count_hi is used
	roCompatMetaCsum   = 0x400
)

// MaxLabel is the longest label in bytes the superblock holds
// (s_volume_name, with no NUL needed when full); mkfs.ext4 cuts a longer
// one, so `homestaker prepare` refuses it before formatting.
const MaxLabel = labelSize

// ErrNotExt4 means the bytes hold no ext2/3/4 superblock (wrong magic, or a
// device too small to hold one). Test for it with errors.Is: a device that
// is something else is not a problem for the storage stage.
var ErrNotExt4 = errors.New("no ext4 superblock (magic 0xEF53 not found at byte 1080)")

// ErrChecksum means the magic is there but the superblock's metadata_csum
// checksum does not match: a damaged superblock, whose label must not be
// trusted.
var ErrChecksum = errors.New("ext4 superblock checksum does not match")

// ErrJournalDevice means the device is an external ext4 journal, which
// has an ext4 superblock but holds no files.
var ErrJournalDevice = errors.New("an external ext4 journal device, not a filesystem")

// Superblock is what the primary superblock says about its filesystem.
type Superblock struct {
	UUID       [16]byte
	Label      string // up to the first NUL; "" when none
	BlockSize  uint32 // bytes
	Blocks     uint64
	Inodes     uint32
	RevLevel   uint32
	HasJournal bool // ext3/ext4; false for ext2
	// Clean is s_state's "valid" bit: the filesystem was unmounted
	// cleanly (the kernel clears it while mounted read-write).
	Clean bool
	// Errors is s_state's "errors" bit: the kernel found an
	// inconsistency; e2fsck should look at it.
	Errors bool
	// NeedsRecovery is INCOMPAT_RECOVER: the journal holds transactions
	// the next mount replays (it was not unmounted).
	NeedsRecovery bool
	// ChecksumVerified is true when the filesystem has metadata_csum and
	// the superblock's crc32c matched; without metadata_csum there is no
	// checksum to verify.
	ChecksumVerified bool
}

// UUIDString is the filesystem UUID as blkid and dumpe2fs print it.
func (s *Superblock) UUIDString() string {
	return superblock.UUID(s.UUID)
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ParseSuperblock parses a primary superblock: buf holds the SuperblockSize
// bytes read at SuperblockOffset (more are ignored). It checks the magic
// (else ErrNotExt4), the block size, that it is a filesystem and not an
// external journal (else ErrJournalDevice), and the checksum when the
// filesystem has one (else an error wrapping ErrChecksum).
func ParseSuperblock(buf []byte) (*Superblock, error) {
	le := binary.LittleEndian
	if len(buf) < offMagic+2 || le.Uint16(buf[offMagic:]) != magic {
		return nil, ErrNotExt4
	}
	if len(buf) < SuperblockSize {
		return nil, fmt.Errorf("ext4 superblock truncated: %d bytes, want %d", len(buf), SuperblockSize)
	}
	buf = buf[:SuperblockSize]
	ro := le.Uint32(buf[offFeatureRO:])
	verified := false
	if ro&roCompatMetaCsum != 0 {
		if t := buf[offChecksumType]; t != 1 {
			return nil, fmt.Errorf("ext4 superblock has checksum type %d; only 1 (crc32c) exists", t)
		}
		// The kernel's ext4_superblock_csum: crc32c seeded with ~0 and
		// not inverted at the end, which is the inverse of the usual one.
		want := ^crc32.Checksum(buf[:offChecksum], castagnoli)
		if got := le.Uint32(buf[offChecksum:]); got != want {
			return nil, fmt.Errorf("%w (stored %#08x, computed %#08x): the superblock is damaged", ErrChecksum, got, want)
		}
		verified = true
	}
	inc := le.Uint32(buf[offFeatureInc:])
	if inc&incompatJournalDev != 0 {
		return nil, ErrJournalDevice
	}
	logBS := le.Uint32(buf[offLogBlockSize:])
	if logBS > 6 { // 64 KiB, the largest block size ext4 knows
		return nil, fmt.Errorf("ext4 superblock gives block size 1024<<%d, above the 64 KiB ext4 allows", logBS)
	}
	state := le.Uint16(buf[offState:])
	s := &Superblock{
		Label:            superblock.CString(buf[offVolumeName : offVolumeName+labelSize]),
		BlockSize:        1024 << logBS,
		Blocks:           uint64(le.Uint32(buf[offBlocksCountLo:])),
		Inodes:           le.Uint32(buf[offInodesCount:]),
		RevLevel:         le.Uint32(buf[offRevLevel:]),
		HasJournal:       le.Uint32(buf[offFeatureCompat:])&compatHasJournal != 0,
		Clean:            state&stateValid != 0,
		Errors:           state&stateErrors != 0,
		NeedsRecovery:    inc&incompatRecover != 0,
		ChecksumVerified: verified,
	}
	if inc&incompat64Bit != 0 {
		s.Blocks |= uint64(le.Uint32(buf[offBlocksCountHi:])) << 32
	}
	copy(s.UUID[:], buf[offUUID:])
	return s, nil
}

// ReadSuperblock reads and parses the primary superblock of a device or
// image file. A device too small to hold one gives ErrNotExt4; a read
// error is returned as it is.
func ReadSuperblock(r io.ReaderAt) (*Superblock, error) {
	buf := make([]byte, SuperblockSize)
	if err := superblock.Read(r, buf, SuperblockOffset, ErrNotExt4, "ext4"); err != nil {
		return nil, err
	}
	return ParseSuperblock(buf)
}

// ReadDevice is ReadSuperblock of the device or image file at path.
func ReadDevice(path string) (*Superblock, error) {
	return superblock.ReadDevice(path, ReadSuperblock)
}
