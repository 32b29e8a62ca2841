package handover

// An xz decoder for initrd segments: the .xz container with LZMA2, the only
// filter chain xz uses for an initramfs. It reads exactly one stream and
// never past its footer, so the caller knows where the next initrd segment
// starts. github.com/ulikunitz/xz is not in go.sum; this decoder keeps the
// module's dependencies as they are.

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"io"
)

var xzMagic = []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}

// xzMaxDict bounds the dictionary an xz stream may ask for; xz -9 uses
// 64 MiB.
const xzMaxDict = 1 << 30

var crc64Table = crc64.MakeTable(crc64.ECMA)

// xzReader decompresses one xz stream from r.
type xzReader struct {
	r     *countingByteReader
	check byte // check type from the stream flags
	flags [2]byte

	blocks []xzRecord // decoded so far, compared with the index at the end

	// The current block.
	lz           *lzma2Reader
	hash         hash.Hash
	out          int64 // uncompressed bytes so far
	headerSize   int64
	from         int64 // r.n where the compressed data starts
	compressed   int64 // from the header, -1 when absent
	uncompressed int64 // from the header, -1 when absent

	done bool
	err  error
}

type xzRecord struct{ unpadded, uncompressed int64 }

// countingByteReader counts the bytes read through it.
type countingByteReader struct {
	r interface {
		io.Reader
		io.ByteReader
	}
	n int64
}

func (c *countingByteReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func (c *countingByteReader) ReadByte() (byte, error) {
	b, err := c.r.ReadByte()
	if err == nil {
		c.n++
	}
	return b, err
}

var errXZData = errors.New("xz: corrupt data")

func xzCorrupt(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errXZData, fmt.Sprintf(format, args...))
}

func newXZReader(r *countingByteReader) (*xzReader, error) {
	var h [12]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, fmt.Errorf("xz: stream header: %w", noEOF(err))
	}
	if !bytes.Equal(h[:6], xzMagic) {
		return nil, xzCorrupt("not an xz stream")
	}
	if crc32.ChecksumIEEE(h[6:8]) != binary.LittleEndian.Uint32(h[8:]) {
		return nil, xzCorrupt("stream header checksum mismatch")
	}
	if h[6] != 0 || h[7]&0xf0 != 0 {
		return nil, xzCorrupt("unsupported stream flags %#x %#x", h[6], h[7])
	}
	x := &xzReader{r: r, check: h[7] & 0x0f, flags: [2]byte{h[6], h[7]}}
	switch x.check {
	case 0x00, 0x01, 0x04, 0x0a:
	default:
		return nil, fmt.Errorf("xz: check type %#x not supported (only none, CRC32, CRC64, SHA-256)", x.check)
	}
	return x, nil
}

func (x *xzReader) newHash() hash.Hash {
	switch x.check {
	case 0x01:
		return crc32.NewIEEE()
	case 0x04:
		return crc64.New(crc64Table)
	case 0x0a:
		return sha256.New()
	}
	return nil
}

func (x *xzReader) checkSize() int64 {
	switch x.check {
	case 0x01:
		return 4
	case 0x04:
		return 8
	case 0x0a:
		return 32
	}
	return 0
}

func (x *xzReader) Read(p []byte) (int, error) {
	for {
		if x.err != nil {
			return 0, x.err
		}
		if x.done {
			return 0, io.EOF
		}
		if x.lz == nil {
			x.err = x.startBlock()
			continue
		}
		n, err := x.lz.Read(p)
		x.out += int64(n)
		if x.hash != nil {
			x.hash.Write(p[:n])
		}
		if err == io.EOF {
			x.err = x.endBlock()
			if n > 0 {
				return n, nil
			}
			continue
		}
		if err != nil {
			x.err = err
		}
		return n, nil
	}
}

// startBlock reads a block header, or at the index the rest of the stream.
func (x *xzReader) startBlock() error {
	size, err := x.r.ReadByte()
	if err != nil {
		return fmt.Errorf("xz: block header: %w", noEOF(err))
	}
	if size == 0 {
		if err := x.readIndex(); err != nil {
			return err
		}
		x.done = true
		return nil
	}
	h := make([]byte, (int(size)+1)*4)
	h[0] = size
	if _, err := io.ReadFull(x.r, h[1:]); err != nil {
		return fmt.Errorf("xz: block header: %w", noEOF(err))
	}
	if crc32.ChecksumIEEE(h[:len(h)-4]) != binary.LittleEndian.Uint32(h[len(h)-4:]) {
		return xzCorrupt("block header checksum mismatch")
	}
	flags := h[1]
	if flags&0x3c != 0 {
		return xzCorrupt("reserved block flags %#x", flags)
	}
	body := bytes.NewReader(h[2 : len(h)-4])
	compressed, uncompressed := int64(-1), int64(-1)
	if flags&0x40 != 0 {
		v, err := readVLI(body)
		if err != nil {
			return err
		}
		compressed = int64(v)
	}
	if flags&0x80 != 0 {
		v, err := readVLI(body)
		if err != nil {
			return err
		}
		uncompressed = int64(v)
	}
	if n := flags&3 + 1; n != 1 {
		return fmt.Errorf("xz: a chain of %d filters is not supported (only LZMA2 alone, as xz writes for an initramfs)", n)
	}
	id, err := readVLI(body)
	if err != nil {
		return err
	}
	propSize, err := readVLI(body)
	if err != nil {
		return err
	}
	if id != 0x21 {
		return fmt.Errorf("xz: filter %#x is not supported (only LZMA2)", id)
	}
	if propSize != 1 {
		return xzCorrupt("LZMA2 properties of %d bytes", propSize)
	}
	prop, err := body.ReadByte()
	if err != nil {
		return xzCorrupt("block header too short")
	}
	for body.Len() > 0 {
		if b, _ := body.ReadByte(); b != 0 {
			return xzCorrupt("block header padding not zero")
		}
	}
	dict, err := lzma2DictSize(prop)
	if err != nil {
		return err
	}
	x.lz = newLZMA2Reader(x.r, dict)
	x.hash = x.newHash()
	x.out = 0
	x.headerSize = int64(len(h))
	x.from = x.r.n
	x.compressed, x.uncompressed = compressed, uncompressed
	return nil
}

// endBlock reads the block padding and check once LZMA2 has ended.
func (x *xzReader) endBlock() error {
	compressed := x.r.n - x.from
	if x.compressed >= 0 && x.compressed != compressed {
		return xzCorrupt("block is %d compressed bytes, its header says %d", compressed, x.compressed)
	}
	if x.uncompressed >= 0 && x.uncompressed != x.out {
		return xzCorrupt("block is %d bytes, its header says %d", x.out, x.uncompressed)
	}
	for pad := (4 - compressed%4) % 4; pad > 0; pad-- {
		b, err := x.r.ReadByte()
		if err != nil {
			return fmt.Errorf("xz: block padding: %w", noEOF(err))
		}
		if b != 0 {
			return xzCorrupt("block padding not zero")
		}
	}
	sum := make([]byte, x.checkSize())
	if _, err := io.ReadFull(x.r, sum); err != nil {
		return fmt.Errorf("xz: block check: %w", noEOF(err))
	}
	if x.hash != nil {
		got := x.hash.Sum(nil)
		if x.check == 0x01 || x.check == 0x04 {
			// CRC32 and CRC64 are stored little-endian; hash.Sum is big-endian.
			for i, j := 0, len(got)-1; i < j; i, j = i+1, j-1 {
				got[i], got[j] = got[j], got[i]
			}
		}
		if !bytes.Equal(got, sum) {
			return xzCorrupt("block check mismatch")
		}
	}
	x.blocks = append(x.blocks, xzRecord{unpadded: x.headerSize + compressed + x.checkSize(), uncompressed: x.out})
	x.lz = nil
	return nil
}

// readIndex reads the index (its indicator byte already read) and the
// stream footer, and compares the index with the blocks decoded.
func (x *xzReader) readIndex() error {
	crc := crc32.NewIEEE()
	crc.Write([]byte{0})
	tee := &countingByteReader{r: &hashingByteReader{r: x.r, h: crc}}
	n, err := readVLI(tee)
	if err != nil {
		return err
	}
	if n != uint64(len(x.blocks)) {
		return xzCorrupt("index lists %d blocks, the stream has %d", n, len(x.blocks))
	}
	for i := range x.blocks {
		unpadded, err := readVLI(tee)
		if err != nil {
			return err
		}
		uncompressed, err := readVLI(tee)
		if err != nil {
			return err
		}
		if int64(unpadded) != x.blocks[i].unpadded || int64(uncompressed) != x.blocks[i].uncompressed {
			return xzCorrupt("index record %d does not match its block", i)
		}
	}
	size := 1 + tee.n
	for ; size%4 != 0; size++ {
		b, err := tee.ReadByte()
		if err != nil {
			return fmt.Errorf("xz: index: %w", noEOF(err))
		}
		if b != 0 {
			return xzCorrupt("index padding not zero")
		}
	}
	var sum [4]byte
	if _, err := io.ReadFull(x.r, sum[:]); err != nil {
		return fmt.Errorf("xz: index: %w", noEOF(err))
	}
	if crc.Sum32() != binary.LittleEndian.Uint32(sum[:]) {
		return xzCorrupt("index checksum mismatch")
	}
	size += 4
	var f [12]byte
	if _, err := io.ReadFull(x.r, f[:]); err != nil {
		return fmt.Errorf("xz: stream footer: %w", noEOF(err))
	}
	if f[10] != 'Y' || f[11] != 'Z' {
		return xzCorrupt("stream footer magic missing")
	}
	if crc32.ChecksumIEEE(f[4:10]) != binary.LittleEndian.Uint32(f[:4]) {
		return xzCorrupt("stream footer checksum mismatch")
	}
	if f[8] != x.flags[0] || f[9] != x.flags[1] {
		return xzCorrupt("stream footer flags differ from the header's")
	}
	if backward := (int64(binary.LittleEndian.Uint32(f[4:8])) + 1) * 4; backward != size {
		return xzCorrupt("stream footer says the index is %d bytes, it is %d", backward, size)
	}
	return nil
}

type hashingByteReader struct {
	r *countingByteReader
	h hash.Hash32
}

func (h *hashingByteReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	h.h.Write(p[:n])
	return n, err
}

func (h *hashingByteReader) ReadByte() (byte, error) {
	b, err := h.r.ReadByte()
	if err == nil {
		h.h.Write([]byte{b})
	}
	return b, err
}

// readVLI reads xz's variable-length integer: 7 bits a byte, low first,
// at most 9 bytes, no superfluous zero byte at the end.
func readVLI(r io.ByteReader) (uint64, error) {
	var v uint64
	for i := 0; i < 9; i++ {
		b, err := r.ReadByte()
		if err != nil {
			return 0, xzCorrupt("truncated integer")
		}
		v |= uint64(b&0x7f) << (7 * i)
		if b&0x80 == 0 {
			if i > 0 && b == 0 {
				return 0, xzCorrupt("integer not minimally encoded")
			}
			return v, nil
		}
	}
	return 0, xzCorrupt("integer longer than 9 bytes")
}

func lzma2DictSize(prop byte) (int, error) {
	if prop > 40 {
		return 0, xzCorrupt("LZMA2 dictionary property %d", prop)
	}
	if prop == 40 {
		return 0, fmt.Errorf("xz: a 4 GiB dictionary is more than this decoder allows (%d MiB)", xzMaxDict>>20)
	}
	size := (2 | int(prop&1)) << (prop/2 + 11)
	if size > xzMaxDict {
		return 0, fmt.Errorf("xz: a %d MiB dictionary is more than this decoder allows (%d MiB)", size>>20, xzMaxDict>>20)
	}
	return size, nil
}

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
