package fetch

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// memReserve is what a download into tmpfs must leave free, besides 5% of
// its size, so that the init and the kernel keep room to work: tmpfs pages
// cannot be reclaimed, and running out of memory in PID 1 panics the kernel.
const memReserve = 64 << 20

func readMemAvailable() (int64, error) {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, err
	}
	return MemAvailable(b)
}

// statfsAvailable is the free space of the filesystem holding dir, or -1
// when it has no limit (a tmpfs mounted with size=0).
func statfsAvailable(dir string) (int64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, fmt.Errorf("statfs %s: %v", dir, err)
	}
	if st.Blocks == 0 {
		return -1, nil
	}
	free := uint64(st.Bavail) * uint64(st.Bsize)
	if free > math.MaxInt64 {
		return math.MaxInt64, nil
	}
	return int64(free), nil
}

// MemAvailable returns the MemAvailable line of /proc/meminfo in bytes:
// the kernel's estimate of what can be allocated without swapping, which
// already excludes what tmpfs holds.
func MemAvailable(meminfo []byte) (int64, error) {
	for line := range bytes.Lines(meminfo) {
		rest, ok := bytes.CutPrefix(line, []byte("MemAvailable:"))
		if !ok {
			continue
		}
		f := bytes.Fields(rest)
		if len(f) != 2 || string(f[1]) != "kB" {
			return 0, fmt.Errorf("meminfo: MemAvailable line %q: expected NUMBER kB", bytes.TrimSpace(line))
		}
		kb, err := strconv.ParseInt(string(f[0]), 10, 64)
		if err != nil || kb < 0 || kb > math.MaxInt64/1024 {
			return 0, fmt.Errorf("meminfo: MemAvailable %q is not a size in kB", f[0])
		}
		return kb * 1024, nil
	}
	return 0, fmt.Errorf("meminfo: no MemAvailable line (the kernel has it since 3.14)")
}

// reserve is what must stay free beside a download of size bytes.
func reserve(size int64) int64 { return memReserve + size/20 }

// Fits says whether a download of size bytes into tmpfs leaves the reserve
// (64 MiB + 5% of size) out of available bytes of memory. An unknown size
// (-1) fits; File then checks as the bytes arrive.
func Fits(size, available int64) error {
	if size < 0 {
		return nil
	}
	r := reserve(size)
	if available < r || size > available-r {
		return &noRoomError{size: size, available: available, reserve: r}
	}
	return nil
}

// noRoomError is a download the machine's RAM cannot hold.
type noRoomError struct {
	size      int64 // -1: unknown, done bytes so far
	done      int64
	available int64
	reserve   int64
	space     string // the directory, when the limit is the filesystem's
}

func (e *noRoomError) Error() string {
	switch {
	case e.space != "":
		return fmt.Sprintf("%s (%d bytes) does not fit in %s: only %s free there",
			formatSize(float64(e.size)), e.size, e.space, formatSize(float64(e.available)))
	case e.size < 0:
		return fmt.Sprintf("size not announced; after %s only %s of memory is available, less than the %s kept in reserve",
			formatSize(float64(e.done)), formatSize(float64(e.available)), formatSize(float64(e.reserve)))
	default:
		return fmt.Sprintf("%s (%d bytes) does not fit in memory: %s available, of which %s must stay free",
			formatSize(float64(e.size)), e.size, formatSize(float64(max(e.available, 0))), formatSize(float64(e.reserve)))
	}
}

const hintMemory = "a download is held in RAM (tmpfs) until kexec: give the machine more memory, or install the tree on the volume (homestaker install-next) so that it is read in place"

// checkRoom refuses a download of size more bytes into dst before they
// arrive: memory first, then the filesystem (a tmpfs has a size= limit,
// half the RAM by default).
func (f *fetcher) checkRoom(dst string, size int64) error {
	avail, err := f.memAvailable()
	if err != nil {
		return permanent(fmt.Errorf("cannot tell whether the download fits in memory: %v", err), "mount /proc")
	}
	if err := Fits(size, avail); err != nil {
		return permanent(err, hintMemory)
	}
	if size <= 0 {
		return nil
	}
	dir := filepath.Dir(dst)
	free, err := f.spaceAvailable(dir)
	if err != nil {
		return permanent(err, "check that the download directory exists")
	}
	if free >= 0 && size > free {
		return permanent(&noRoomError{size: size, available: free, space: dir}, "mount a larger tmpfs there (size=)")
	}
	return nil
}

// checkRoomSoFar is the check for a body of unknown size, done bytes in:
// the reserve must still be free.
func (f *fetcher) checkRoomSoFar(done int64) error {
	avail, err := f.memAvailable()
	if err != nil {
		return permanent(fmt.Errorf("cannot tell whether the download fits in memory: %v", err), "mount /proc")
	}
	if r := reserve(done); avail < r {
		return permanent(&noRoomError{size: -1, done: done, available: avail, reserve: r}, hintMemory)
	}
	return nil
}
