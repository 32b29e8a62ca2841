package btrfs

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math/bits"

	"golang.org/x/crypto/blake2b"
)

// The four superblock checksums Btrfs defines. xxhash64 is written out
// here because no module this one needs exports it (klauspost/compress's
// is internal); it is a page of code checked against superblocks made by
// mkfs.btrfs --csum xxhash.

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// checksum returns the checksum of data as Btrfs stores it in the first
// bytes of the csum field: crc32c and xxhash64 little-endian, SHA-256 and
// BLAKE2b-256 as their digests.
func checksum(csumType uint16, data []byte) ([]byte, error) {
	switch csumType {
	case CsumCRC32C:
		return binary.LittleEndian.AppendUint32(nil, crc32.Checksum(data, castagnoli)), nil
	case CsumXXHash64:
		return binary.LittleEndian.AppendUint64(nil, xxh64(data, 0)), nil
	case CsumSHA256:
		s := sha256.Sum256(data)
		return s[:], nil
	case CsumBLAKE2b:
		s := blake2b.Sum256(data) // the kernel's blake2b-256
		return s[:], nil
	}
	return nil, fmt.Errorf("Btrfs superblock has checksum type %d, which no kernel knows (0 crc32c, 1 xxhash64, 2 sha256, 3 blake2b)", csumType)
}

func csumName(t uint16) string {
	switch t {
	case CsumCRC32C:
		return "crc32c"
	case CsumXXHash64:
		return "xxhash64"
	case CsumSHA256:
		return "sha256"
	case CsumBLAKE2b:
		return "blake2b"
	}
	return fmt.Sprintf("type %d", t)
}

// xxh64 is XXH64 (github.com/Cyan4973/xxHash, doc/xxhash_spec.md).
func xxh64(b []byte, seed uint64) uint64 {
	const (
		p1 uint64 = 11400714785074694791
		p2 uint64 = 14029467366897019727
		p3 uint64 = 1609587929392839161
		p4 uint64 = 9650029242287828579
		p5 uint64 = 2870177450012600261
	)
	round := func(acc, in uint64) uint64 {
		return bits.RotateLeft64(acc+in*p2, 31) * p1
	}
	merge := func(acc, v uint64) uint64 {
		return (acc^round(0, v))*p1 + p4
	}
	le := binary.LittleEndian
	n := uint64(len(b))
	var h uint64
	if len(b) >= 32 {
		v1, v2, v3, v4 := seed+p1+p2, seed+p2, seed, seed-p1
		for ; len(b) >= 32; b = b[32:] {
			v1 = round(v1, le.Uint64(b[0:]))
			v2 = round(v2, le.Uint64(b[8:]))
			v3 = round(v3, le.Uint64(b[16:]))
			v4 = round(v4, le.Uint64(b[24:]))
		}
		h = bits.RotateLeft64(v1, 1) + bits.RotateLeft64(v2, 7) + bits.RotateLeft64(v3, 12) + bits.RotateLeft64(v4, 18)
		h = merge(h, v1)
		h = merge(h, v2)
		h = merge(h, v3)
		h = merge(h, v4)
	} else {
		h = seed + p5
	}
	h += n
	for ; len(b) >= 8; b = b[8:] {
		h ^= round(0, le.Uint64(b))
		h = bits.RotateLeft64(h, 27)*p1 + p4
	}
	if len(b) >= 4 {
		h ^= uint64(le.Uint32(b)) * p1
		h = bits.RotateLeft64(h, 23)*p2 + p3
		b = b[4:]
	}
	for _, c := range b {
		h ^= uint64(c) * p5
		h = bits.RotateLeft64(h, 11) * p1
	}
	h ^= h >> 33
	h *= p2
	h ^= h >> 29
	h *= p3
	h ^= h >> 32
	return h
}
