package initrd

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/ulikunitz/xz"
)

// xz segments are decoded by github.com/ulikunitz/xz. Its single-stream
// reader reads one byte past the stream to make sure nothing follows, so
// the stream is first measured from its headers, as zstd frames are, and
// the reader is given exactly it: a byte more or less is its error, never
// a misplaced next segment.

var xzMagic = []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}

// xzMaxDict bounds the dictionary an xz stream may ask for (the decoder
// allocates it); xz -9 uses 64 MiB.
const xzMaxDict = 1 << 30

func readXZSegment(r io.ReaderAt, p, size int64, sink cpioSink) (int64, error) {
	x, n, err := xzStream(r, p, size)
	if err != nil {
		return 0, err
	}
	if err := readArchives(x, sink); err != nil {
		return 0, err
	}
	return n, nil
}

// xzStream returns a reader of the xz stream at p, and its length.
func xzStream(r io.ReaderAt, p, size int64) (io.Reader, int64, error) {
	n, err := xzStreamLength(r, p, size)
	if err != nil {
		return nil, 0, err
	}
	// Buffered (the decoder reads byte by byte): within the measured
	// stream, reading ahead cannot pass its end.
	src := bufio.NewReaderSize(io.NewSectionReader(r, p, n), 64<<10)
	x, err := xz.ReaderConfig{SingleStream: true}.NewReader(src)
	if err != nil {
		return nil, 0, err
	}
	return x, n, nil
}

var errXZData = errors.New("xz: corrupt data")

func xzCorrupt(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errXZData, fmt.Sprintf(format, args...))
}

// xzStreamLength measures the xz stream at p: its header, each block
// (header, LZMA2 chunks by their sizes, padding, check), the index and
// the footer. It checks only what it needs to find the end and what this
// init refuses up front; the decoder checks the rest.
func xzStreamLength(r io.ReaderAt, p, size int64) (int64, error) {
	br := &countingByteReader{r: bufio.NewReaderSize(io.NewSectionReader(r, p, size-p), 64<<10)}
	var h [12]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		return 0, fmt.Errorf("xz: stream header: %w", noEOF(err))
	}
	var check int64
	switch h[7] & 0x0f {
	case 0x00: // none
	case 0x01: // CRC32
		check = 4
	case 0x04: // CRC64
		check = 8
	case 0x0a: // SHA-256
		check = 32
	default:
		return 0, fmt.Errorf("xz: check type %#x not supported (only none, CRC32, CRC64, SHA-256)", h[7]&0x0f)
	}
	for {
		b, err := br.ReadByte()
		if err != nil {
			return 0, fmt.Errorf("xz: block header: %w", noEOF(err))
		}
		if b == 0 { // the index indicator
			break
		}
		if err := skipXZBlock(br, b, check); err != nil {
			return 0, err
		}
	}
	// The index: its record count, two integers per record, padding to
	// four bytes, a CRC32; then the stream footer.
	records, err := readVLI(br)
	if err != nil {
		return 0, err
	}
	for range records {
		for range 2 { // unpadded and uncompressed size
			if _, err := readVLI(br); err != nil {
				return 0, err
			}
		}
	}
	if err := skipBytes(br, (4-br.n%4)%4+4+12); err != nil {
		return 0, fmt.Errorf("xz: index and stream footer: %w", err)
	}
	return br.n, nil
}

// skipXZBlock reads past a block whose header begins with size.
func skipXZBlock(br *countingByteReader, size byte, check int64) error {
	h := make([]byte, (int(size)+1)*4)
	h[0] = size
	if _, err := io.ReadFull(br, h[1:]); err != nil {
		return fmt.Errorf("xz: block header: %w", noEOF(err))
	}
	if crc32.ChecksumIEEE(h[:len(h)-4]) != binary.LittleEndian.Uint32(h[len(h)-4:]) {
		return xzCorrupt("block header checksum mismatch")
	}
	if err := checkXZFilters(h[1], bytes.NewReader(h[2:len(h)-4])); err != nil {
		return err
	}
	for {
		end, err := skipLZMA2Chunk(br)
		if err != nil {
			return fmt.Errorf("xz: LZMA2 chunk: %w", err)
		}
		if end {
			break
		}
	}
	if err := skipBytes(br, (4-br.n%4)%4+check); err != nil {
		return fmt.Errorf("xz: block padding and check: %w", err)
	}
	return nil
}

// skipLZMA2Chunk reads past one LZMA2 chunk, by the sizes in its header;
// end is the end marker.
func skipLZMA2Chunk(br *countingByteReader) (end bool, err error) {
	c, err := br.ReadByte()
	if err != nil {
		return false, noEOF(err)
	}
	var head [5]byte
	var size []byte // packed size-1, big-endian
	switch {
	case c == 0x00:
		return true, nil
	case c == 0x01 || c == 0x02: // stored
		size = head[:2]
		_, err = io.ReadFull(br, head[:2])
	case c >= 0xc0: // compressed, new properties: unpacked size, packed size, properties
		size = head[2:4]
		_, err = io.ReadFull(br, head[:5])
	case c >= 0x80: // compressed
		size = head[2:4]
		_, err = io.ReadFull(br, head[:4])
	default:
		return false, xzCorrupt("LZMA2 chunk control byte %#x", c)
	}
	if err != nil {
		return false, noEOF(err)
	}
	return false, skipBytes(br, int64(binary.BigEndian.Uint16(size))+1)
}

// checkXZFilters reads a block header's flags and filter list: LZMA2
// alone, as xz writes for an initramfs (the decoder knows no other), with
// a dictionary this init allows.
func checkXZFilters(flags byte, body *bytes.Reader) error {
	for _, present := range []bool{flags&0x40 != 0, flags&0x80 != 0} { // compressed, uncompressed size
		if present {
			if _, err := readVLI(body); err != nil {
				return err
			}
		}
	}
	if n := flags&3 + 1; n != 1 {
		return fmt.Errorf("xz: a chain of %d filters is not supported (only LZMA2 alone, as xz writes for an initramfs)", n)
	}
	id, err := readVLI(body)
	if err != nil {
		return err
	}
	if id != 0x21 {
		return fmt.Errorf("xz: filter %#x is not supported (only LZMA2)", id)
	}
	if n, err := readVLI(body); err != nil {
		return err
	} else if n != 1 {
		return xzCorrupt("LZMA2 properties of %d bytes", n)
	}
	prop, err := body.ReadByte()
	if err != nil {
		return xzCorrupt("block header too short")
	}
	return checkLZMA2Dict(prop)
}

func skipBytes(r io.Reader, n int64) error {
	if m, err := io.CopyN(io.Discard, r, n); m < n {
		return noEOF(err)
	}
	return nil
}

// readVLI reads xz's variable-length integer: 7 bits a byte, low first,
// at most 9 bytes.
func readVLI(r io.ByteReader) (uint64, error) {
	var v uint64
	for i := 0; i < 9; i++ {
		b, err := r.ReadByte()
		if err != nil {
			return 0, xzCorrupt("truncated integer")
		}
		v |= uint64(b&0x7f) << (7 * i)
		if b&0x80 == 0 {
			return v, nil
		}
	}
	return 0, xzCorrupt("integer longer than 9 bytes")
}

func checkLZMA2Dict(prop byte) error {
	if prop > 40 {
		return xzCorrupt("LZMA2 dictionary property %d", prop)
	}
	if prop == 40 {
		return fmt.Errorf("xz: a 4 GiB dictionary is more than this decoder allows (%d MiB)", xzMaxDict>>20)
	}
	if size := (2 | int(prop&1)) << (prop/2 + 11); size > xzMaxDict {
		return fmt.Errorf("xz: a %d MiB dictionary is more than this decoder allows (%d MiB)", size>>20, xzMaxDict>>20)
	}
	return nil
}

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

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
