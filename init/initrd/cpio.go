package initrd

// The cpio "newc" format as the kernel unpacks it into its rootfs
// (init/initramfs.c): 110-byte ASCII headers, names and data padded to 4
// bytes, an archive ending with TRAILER!!!, hard links sharing an inode
// number within one archive.

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"
)

const (
	cpioHeaderSize = 110
	cpioTrailer    = "TRAILER!!!"
	cpioMaxName    = 4096 // PATH_MAX, as the kernel allows
	cpioMaxLink    = 4096

	sIFMT   = 0o170000
	sIFSOCK = 0o140000
	sIFLNK  = 0o120000
	sIFREG  = 0o100000
	sIFBLK  = 0o060000
	sIFDIR  = 0o040000
	sIFCHR  = 0o020000
	sIFIFO  = 0o010000
)

// cpioEntry is one archive member's header.
type cpioEntry struct {
	Name                 string // cleaned and relative; "." is the root itself
	Ino, Mode, UID, GID  uint32
	Nlink, Mtime, Size   uint32
	DevMajor, DevMinor   uint32
	RdevMajor, RdevMinor uint32
	Check                uint32
	CRC                  bool // "070702": Check is the sum of the data bytes
}

func (e *cpioEntry) typ() uint32 { return e.Mode & sIFMT }

// cpioSink receives the entries of a sequence of archives. data yields
// exactly the entry's Size bytes; what entry leaves unread is skipped.
type cpioSink interface {
	entry(e *cpioEntry, data io.Reader) error
	endArchive()
}

// readArchive reads one archive, its trailer and the trailer's padding
// from r and hands each member to sink.
func readArchive(r *countingByteReader, sink cpioSink) error {
	start := r.n
	pad := func() error {
		for (r.n-start)%4 != 0 {
			if _, err := r.ReadByte(); err != nil {
				return fmt.Errorf("padding: %w", noEOF(err))
			}
		}
		return nil
	}
	var hdr [cpioHeaderSize]byte
	for {
		at := r.n - start
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return fmt.Errorf("cpio header at archive offset %d: %w", at, noEOF(err))
		}
		e, namesize, err := parseCPIOHeader(hdr[:])
		if err != nil {
			return fmt.Errorf("cpio header at archive offset %d: %w", at, err)
		}
		raw := make([]byte, namesize)
		if _, err := io.ReadFull(r, raw); err != nil {
			return fmt.Errorf("cpio name at archive offset %d: %w", at, noEOF(err))
		}
		name, _, _ := strings.Cut(string(raw), "\x00")
		if err := pad(); err != nil {
			return fmt.Errorf("cpio entry %q: %w", name, err)
		}
		if name == cpioTrailer {
			sink.endArchive()
			return nil
		}
		if e.Name, err = cleanCPIOName(name); err != nil {
			return fmt.Errorf("cpio entry %q: %w", name, err)
		}
		data := &summingReader{r: io.LimitReader(r, int64(e.Size))}
		if err := sink.entry(e, data); err != nil {
			return err
		}
		if _, err := io.Copy(io.Discard, data); err != nil {
			return fmt.Errorf("cpio entry %q: data: %w", name, err)
		}
		if data.n != int64(e.Size) {
			return fmt.Errorf("cpio entry %q: data: %w", name, io.ErrUnexpectedEOF)
		}
		if e.CRC && e.typ() == sIFREG && data.sum != e.Check {
			return fmt.Errorf("cpio entry %q: data sum %#x, the header says %#x", name, data.sum, e.Check)
		}
		if err := pad(); err != nil {
			return fmt.Errorf("cpio entry %q: %w", name, err)
		}
	}
}

func parseCPIOHeader(h []byte) (*cpioEntry, uint32, error) {
	e := &cpioEntry{}
	switch string(h[:6]) {
	case "070701":
	case "070702":
		e.CRC = true
	case "070707":
		return nil, 0, errors.New(`old portable ("odc") cpio format: only newc (070701, 070702) is supported`)
	default:
		return nil, 0, fmt.Errorf("no cpio magic (found %q)", h[:6])
	}
	var f [13]uint32
	for i := range f {
		field := string(h[6+8*i : 14+8*i])
		v, err := strconv.ParseUint(field, 16, 32)
		if err != nil {
			return nil, 0, fmt.Errorf("field %d is not hex: %q", i, field)
		}
		f[i] = uint32(v)
	}
	e.Ino, e.Mode, e.UID, e.GID, e.Nlink, e.Mtime, e.Size = f[0], f[1], f[2], f[3], f[4], f[5], f[6]
	e.DevMajor, e.DevMinor, e.RdevMajor, e.RdevMinor, e.Check = f[7], f[8], f[9], f[10], f[12]
	namesize := f[11]
	if namesize == 0 || namesize > cpioMaxName {
		return nil, 0, fmt.Errorf("name of %d bytes", namesize)
	}
	return e, namesize, nil
}

// cleanCPIOName makes an archive name relative to the unpack directory.
// Absolute names and ".." are refused rather than rewritten: an initrd
// that has them was not made for a rootfs.
func cleanCPIOName(name string) (string, error) {
	if name == "" {
		return "", errors.New("empty name")
	}
	if strings.HasPrefix(name, "/") {
		return "", errors.New("absolute name: initrd entries must be relative")
	}
	for _, part := range strings.Split(name, "/") {
		if part == ".." {
			return "", errors.New(`name with "..": it would escape the new root`)
		}
	}
	return path.Clean(name), nil
}

// summingReader adds up the bytes read, for the "070702" check.
type summingReader struct {
	r   io.Reader
	n   int64
	sum uint32
}

func (s *summingReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	s.n += int64(n)
	for _, b := range p[:n] {
		s.sum += uint32(b)
	}
	return n, err
}

// readArchives reads archives from a decompressed segment until its end;
// zero bytes may pad between them.
func readArchives(r io.Reader, sink cpioSink) error {
	buf := bufio.NewReaderSize(r, 64<<10)
	br := &countingByteReader{r: buf}
	for {
		if err := skipZeroBytes(buf, br); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
		start := br.n
		if err := readArchive(br, sink); err != nil {
			return fmt.Errorf("archive at decompressed offset %d: %w", start, err)
		}
	}
}

// skipZeroBytes consumes zero bytes from buf through c (which counts them);
// io.EOF means only zeros were left.
func skipZeroBytes(buf *bufio.Reader, c *countingByteReader) error {
	for {
		b, err := buf.Peek(1)
		if err != nil {
			return err
		}
		if b[0] != 0 {
			return nil
		}
		c.ReadByte()
	}
}
