// Package volfile opens the files the init reads from the volume, which is
// hostile input: a file is opened through a handle rooted at the volume
// (os.Root), so that no symbolic link leads out of it; without blocking
// (O_NONBLOCK), so that a FIFO cannot hang PID 1; and only when it is a
// regular file, read with a bound that fits its kind, so that a 10 GiB
// sparse jwt.hex is an error naming it, not an out-of-memory kill.
package volfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Open opens name, relative to root, for reading: a regular file inside
// root. Its errors name the file as display names it (the path the
// operator knows, e.g. /mnt/secrets/jwt.hex) and say what it is instead;
// a missing file wraps fs.ErrNotExist.
func Open(root *os.Root, name, display string) (*os.File, os.FileInfo, error) {
	f, err := root.OpenFile(name, os.O_RDONLY|unix.O_NONBLOCK|unix.O_NOCTTY, 0)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil, &fs.PathError{Op: "open", Path: display, Err: fs.ErrNotExist}
		}
		return nil, nil, fmt.Errorf("%s: %v (a symbolic link out of the volume is not followed)", display, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("%s: %v", display, err)
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, nil, fmt.Errorf("%s is %s, not a regular file; replace it with the file itself", display, Kind(st.Mode()))
	}
	return f, st, nil
}

// ReadFile reads name, relative to root, refusing a file larger than
// limit bytes.
func ReadFile(root *os.Root, name, display string, limit int64) ([]byte, error) {
	f, st, err := Open(root, name, display)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st.Size() > limit {
		return nil, fmt.Errorf("%s is %d bytes, more than the %d such a file can hold; it is not what it should be", display, st.Size(), limit)
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %v", display, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s grew past %d bytes while it was read", display, limit)
	}
	return b, nil
}

// Kind names a file mode that is not a regular file, for a message.
func Kind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	}
	return "not a regular file (" + m.Type().String() + ")"
}

// ReadFileAt reads the file at p, rooted at its directory (a subvolume's
// mount, say): no link out of that directory is followed.
func ReadFileAt(p string, limit int64) ([]byte, error) {
	root, err := os.OpenRoot(filepath.Dir(p))
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) && errors.Is(err, fs.ErrNotExist) {
			return nil, &fs.PathError{Op: "open", Path: p, Err: fs.ErrNotExist}
		}
		return nil, err
	}
	defer root.Close()
	return ReadFile(root, filepath.Base(p), p, limit)
}
