// Package superblock holds what the filesystem superblock readers (btrfs,
// ext4, xfs) share: reading a fixed span of a device where a device too
// short to hold it is "not this filesystem" rather than an I/O error, the
// label and UUID forms that blkid prints, and opening a device by path.
package superblock

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
)

// Read reads len(buf) bytes at off. A device that ends before off+len(buf)
// gives an error wrapping notFS (the filesystem cannot be there); any other
// read error names what was read and is returned as such, since an
// unreadable device is not the same as one without the filesystem.
func Read(r io.ReaderAt, buf []byte, off int64, notFS error, what string) error {
	n, err := r.ReadAt(buf, off)
	if n == len(buf) {
		return nil // io.EOF at the very end of the device is fine
	}
	if err == nil || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: device ends before byte %d", notFS, off+int64(len(buf)))
	}
	return fmt.Errorf("reading the %s superblock at %d: %w", what, off, err)
}

// ReadDevice opens the device or image file at path and hands it to read.
func ReadDevice[T any](path string, read func(io.ReaderAt) (T, error)) (T, error) {
	f, err := os.Open(path)
	if err != nil {
		var zero T
		return zero, err
	}
	defer f.Close()
	return read(f)
}

// CString is a NUL-padded fixed-size field (a label) as a string.
func CString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// UUID formats 16 bytes as blkid prints a filesystem UUID.
func UUID(u [16]byte) string {
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}
