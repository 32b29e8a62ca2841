package verify

import (
	"crypto/sha256"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// hashBuffer is large enough that the per-read cost vanishes next to the
// hashing (crypto/sha256 runs SHA-NI or AVX2 code where the CPU has it).
const hashBuffer = 1 << 20

// HashFile returns the SHA-256 of f from offset 0 to its size, and that
// size. It reads with ReadAt, so f's offset is left alone and the file can
// go on to kexec_file_load as it is: what is hashed is what is loaded.
func HashFile(f *os.File) ([32]byte, int64, error) {
	st, err := f.Stat()
	if err != nil {
		return [32]byte{}, 0, err
	}
	size := st.Size()
	// A hint only: readahead for a one-pass read of a multi-GB initrd.
	_ = unix.Fadvise(int(f.Fd()), 0, size, unix.FADV_SEQUENTIAL)
	h := sha256.New()
	buf := make([]byte, hashBuffer)
	n, err := io.CopyBuffer(h, io.NewSectionReader(f, 0, size), buf)
	if err != nil {
		return [32]byte{}, n, err
	}
	if n != size {
		return [32]byte{}, n, io.ErrUnexpectedEOF
	}
	var sum [32]byte
	h.Sum(sum[:0])
	return sum, size, nil
}
