// Package initrd unpacks an initrd into a directory as the kernel unpacks
// one into its rootfs, for switch_root: plain cpio archives and zstd, xz
// or gzip streams of them, one after the other. The decompressors are
// libraries (klauspost/compress/zstd, ulikunitz/xz, compress/gzip); zstd
// frames and xz streams are measured from their headers first, so that
// each decoder is given exactly its segment: both read past its end. The
// cpio reader and the unpacker are our own because
// u-root's pkg/cpio does not unpack what the kernel unpacks: it reads no
// "070702" (checksummed) archives, extracts the names of a hard-linked
// file as separate files, refuses FIFOs, and creates each entry by a path
// joined lexically, so that a symlink from the archive can take a later
// entry out of the directory.
package initrd

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/zstd"
)

// An initrd is walked as the kernel's unpack_to_rootfs walks it: zero
// padding, then a segment recognised by its magic, then where that segment
// ended, again.

var (
	gzipMagic = []byte{0x1f, 0x8b}
	zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}
	cpioMagic = []byte("0707")
)

// readInitrd walks the segments of an initrd and hands every entry to sink.
func readInitrd(r io.ReaderAt, size int64, sink cpioSink) error {
	archives := 0
	counting := &countingSink{cpioSink: sink, archives: &archives}
	for p := int64(0); ; {
		var err error
		if p, err = skipZeros(r, p, size); err != nil {
			return err
		}
		if p >= size {
			break
		}
		var m [6]byte
		n, err := r.ReadAt(m[:], p)
		if err != nil && err != io.EOF {
			return fmt.Errorf("initrd at byte %d: %w", p, err)
		}
		head := m[:n]
		var format string
		var used int64
		switch {
		case bytes.HasPrefix(head, cpioMagic):
			format = "cpio"
			used, err = readPlainSegment(r, p, size, counting)
		case bytes.HasPrefix(head, zstdMagic), isZstdSkippable(head):
			format = "zstd"
			used, err = readZstdSegment(r, p, size, counting)
		case bytes.HasPrefix(head, xzMagic):
			format = "xz"
			used, err = readXZSegment(r, p, size, counting)
		case bytes.HasPrefix(head, gzipMagic):
			format = "gzip"
			used, err = readGzipSegment(r, p, size, counting)
		default:
			return fmt.Errorf("initrd at byte %d: %s", p, unknownSegment(head))
		}
		if err != nil {
			return fmt.Errorf("initrd segment at byte %d (%s): %w", p, format, err)
		}
		p += used
	}
	if archives == 0 {
		return errors.New("the initrd holds no cpio archive")
	}
	return nil
}

// countingSink counts the archives that ended.
type countingSink struct {
	cpioSink
	archives *int
}

func (c *countingSink) endArchive() {
	*c.archives++
	c.cpioSink.endArchive()
}

func unknownSegment(head []byte) string {
	names := []struct {
		magic []byte
		name  string
	}{
		{[]byte("BZh"), "bzip2"},
		{[]byte{0x5d, 0x00, 0x00}, "lzma"},
		{[]byte{0x89, 'L', 'Z', 'O'}, "lzo"},
		{[]byte{0x02, 0x21, 0x4c, 0x18}, "lz4"},
	}
	for _, n := range names {
		if bytes.HasPrefix(head, n.magic) {
			return fmt.Sprintf("%s-compressed data, which this init does not unpack (zstd, xz, gzip or plain cpio only)", n.name)
		}
	}
	return fmt.Sprintf("neither a cpio archive nor zstd, xz or gzip data (starts with % x)", head)
}

// skipZeros returns the offset of the first non-zero byte at or after p,
// or size.
func skipZeros(r io.ReaderAt, p, size int64) (int64, error) {
	buf := make([]byte, 64<<10)
	for p < size {
		n, err := r.ReadAt(buf[:min(int64(len(buf)), size-p)], p)
		for i, b := range buf[:n] {
			if b != 0 {
				return p + int64(i), nil
			}
		}
		p += int64(n)
		if err != nil && err != io.EOF {
			return 0, fmt.Errorf("initrd at byte %d: %w", p, err)
		}
		if n == 0 {
			break
		}
	}
	return size, nil
}

func readPlainSegment(r io.ReaderAt, p, size int64, sink cpioSink) (int64, error) {
	br := &countingByteReader{r: bufio.NewReaderSize(io.NewSectionReader(r, p, size-p), 64<<10)}
	err := readArchive(br, sink)
	return br.n, err
}

func readGzipSegment(r io.ReaderAt, p, size int64, sink cpioSink) (int64, error) {
	src := &countingReader{r: io.NewSectionReader(r, p, size-p)}
	// gzip reads a bufio.Reader byte by byte and so never past the
	// member's trailer: the next segment starts where it stopped.
	br := bufio.NewReaderSize(src, 64<<10)
	gz, err := gzip.NewReader(br)
	if err != nil {
		return 0, err
	}
	gz.Multistream(false)
	if err := readArchives(gz, sink); err != nil {
		return 0, err
	}
	return src.n - int64(br.Buffered()), nil
}

func readZstdSegment(r io.ReaderAt, p, size int64, sink cpioSink) (int64, error) {
	// The zstd decoder reads ahead, so the frames are measured first and
	// it is given exactly them.
	n, err := zstdFramesLength(r, p, size)
	if err != nil {
		return 0, err
	}
	dec, err := zstd.NewReader(io.NewSectionReader(r, p, n))
	if err != nil {
		return 0, err
	}
	defer dec.Close()
	if err := readArchives(dec, sink); err != nil {
		return 0, err
	}
	return n, nil
}

func isZstdSkippable(head []byte) bool {
	return len(head) >= 4 && binary.LittleEndian.Uint32(head)&^0xf == 0x184d2a50
}

// zstdFramesLength measures the zstd frames (and skippable frames) that
// follow each other from p, from their frame and block headers alone.
func zstdFramesLength(r io.ReaderAt, p, size int64) (int64, error) {
	start := p
	for p < size {
		var h [4]byte
		if n, _ := r.ReadAt(h[:], p); n < 4 {
			break
		}
		switch {
		case bytes.Equal(h[:], zstdMagic):
			n, err := zstdFrameLength(r, p, size)
			if err != nil {
				return 0, fmt.Errorf("zstd frame at byte %d: %w", p, err)
			}
			p += n
		case isZstdSkippable(h[:]):
			var s [4]byte
			if n, _ := r.ReadAt(s[:], p+4); n < 4 {
				return 0, fmt.Errorf("zstd skippable frame at byte %d: truncated", p)
			}
			p += 8 + int64(binary.LittleEndian.Uint32(s[:]))
		default:
			return p - start, nil
		}
	}
	if p > size {
		return 0, fmt.Errorf("zstd data runs %d bytes past the end of the initrd", p-size)
	}
	return p - start, nil
}

func zstdFrameLength(r io.ReaderAt, p, size int64) (int64, error) {
	var fhd [1]byte
	if n, _ := r.ReadAt(fhd[:], p+4); n < 1 {
		return 0, io.ErrUnexpectedEOF
	}
	d := fhd[0]
	if d&0x08 != 0 {
		return 0, errors.New("reserved bit set in the frame header")
	}
	single := d>>5&1 == 1
	q := p + 5
	if !single {
		q++ // window descriptor
	}
	q += []int64{0, 1, 2, 4}[d&3] // dictionary id
	fcs := []int64{0, 2, 4, 8}[d>>6]
	if d>>6 == 0 && single {
		fcs = 1
	}
	q += fcs
	for {
		var b [3]byte
		if n, _ := r.ReadAt(b[:], q); n < 3 {
			return 0, io.ErrUnexpectedEOF
		}
		h := uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16
		last, typ, bsize := h&1 == 1, h>>1&3, int64(h>>3)
		switch typ {
		case 0, 2: // raw, compressed
			q += 3 + bsize
		case 1: // RLE: one byte repeated
			q += 3 + 1
		default:
			return 0, errors.New("reserved block type")
		}
		if q > size {
			return 0, io.ErrUnexpectedEOF
		}
		if last {
			break
		}
	}
	if d>>2&1 == 1 {
		q += 4 // content checksum
	}
	if q > size {
		return 0, io.ErrUnexpectedEOF
	}
	return q - p, nil
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
