package atomicfile

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Dir is a directory on the volume, reached from its mount without
// following any symbolic link (openat2 with RESOLVE_NO_SYMLINKS and
// RESOLVE_BENEATH). The init writes on the volume only through one: a
// symbolic link planted as boot/reports, as a report's temporary file or
// as secrets/ssh cannot send a write into chain data or onto a raw disk.
type Dir struct {
	f    *os.File
	path string // as the operator knows it, for messages
}

// resolveIn is how every path below a Dir's top is resolved.
const resolveIn = unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_BENEATH | unix.RESOLVE_NO_MAGICLINKS

// OpenDir opens rel below top (the mount), creating the missing
// directories with perm when create is set.
func OpenDir(top, rel string, create bool, perm os.FileMode) (*Dir, error) {
	fd, err := unix.Open(top, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", top, err)
	}
	at := top
	for _, c := range strings.Split(filepath.Clean("/"+rel), "/") {
		if c == "" {
			continue
		}
		at = filepath.Join(at, c)
		next, err := unix.Openat2(fd, c, &unix.OpenHow{Flags: unix.O_DIRECTORY | unix.O_RDONLY | unix.O_CLOEXEC | unix.O_NOFOLLOW, Resolve: resolveIn})
		if errors.Is(err, unix.ENOENT) && create {
			if err = unix.Mkdirat(fd, c, uint32(perm.Perm())); err == nil || errors.Is(err, unix.EEXIST) {
				next, err = unix.Openat2(fd, c, &unix.OpenHow{Flags: unix.O_DIRECTORY | unix.O_RDONLY | unix.O_CLOEXEC | unix.O_NOFOLLOW, Resolve: resolveIn})
			}
		}
		unix.Close(fd)
		if err != nil {
			return nil, fmt.Errorf("opening %s: %w%s", at, err, linkHint(err))
		}
		fd = next
	}
	return &Dir{f: os.NewFile(uintptr(fd), top), path: filepath.Join(top, rel)}, nil
}

func linkHint(err error) string {
	if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.EXDEV) {
		return " (a symbolic link or a file where a directory should be: the init writes on the volume only through real directories; replace it with one)"
	}
	return ""
}

// Path is the directory as messages name it.
func (d *Dir) Path() string { return d.path }

// Close closes the directory.
func (d *Dir) Close() error { return d.f.Close() }

// WriteFile replaces name in the directory with data durably, as the
// package's WriteFile does: a temporary file created new (O_EXCL, so never
// through a link), fsynced, renamed over name (a link there is replaced,
// not followed), and the directory fsynced.
func (d *Dir) WriteFile(name string, data []byte, perm os.FileMode) (err error) {
	if strings.Contains(name, "/") || name == "" || name == "." || name == ".." {
		return fmt.Errorf("writing %s: %q is not a file name", d.path, name)
	}
	var rnd [6]byte
	rand.Read(rnd[:])
	tmp := "." + name + ".tmp" + hex.EncodeToString(rnd[:])
	dfd := int(d.f.Fd())
	fd, err := unix.Openat2(dfd, tmp, &unix.OpenHow{Flags: unix.O_WRONLY | unix.O_CREAT | unix.O_EXCL | unix.O_NOFOLLOW | unix.O_CLOEXEC, Mode: 0o600, Resolve: resolveIn})
	if err != nil {
		return fmt.Errorf("writing %s: %w", filepath.Join(d.path, name), err)
	}
	f := os.NewFile(uintptr(fd), filepath.Join(d.path, tmp))
	defer func() {
		if err != nil {
			f.Close()
			unix.Unlinkat(dfd, tmp, 0)
		}
	}()
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("writing %s: %w", f.Name(), err)
	}
	if err := f.Chmod(perm); err != nil {
		return fmt.Errorf("chmod %s: %w", f.Name(), err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", f.Name(), err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("closing %s: %w", f.Name(), err)
	}
	if err := unix.Renameat(dfd, tmp, dfd, name); err != nil {
		return fmt.Errorf("renaming %s to %s: %w", tmp, filepath.Join(d.path, name), err)
	}
	return d.Sync()
}

// Sync fsyncs the directory.
func (d *Dir) Sync() error {
	if err := d.f.Sync(); err != nil {
		return fmt.Errorf("fsync of directory %s: %w", d.path, err)
	}
	return nil
}

// Names lists the directory's entries.
func (d *Dir) Names() ([]string, error) {
	dup, err := unix.Openat2(int(d.f.Fd()), ".", &unix.OpenHow{Flags: unix.O_DIRECTORY | unix.O_RDONLY | unix.O_CLOEXEC, Resolve: resolveIn})
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(dup), d.path)
	defer f.Close()
	return f.Readdirnames(-1)
}

// Remove removes the file name from the directory (never what a link
// there points to).
func (d *Dir) Remove(name string) error {
	if err := unix.Unlinkat(int(d.f.Fd()), name, 0); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("removing %s: %w", filepath.Join(d.path, name), err)
	}
	return nil
}

// Exists reports whether the directory has an entry name (of any kind, a
// link included, which is not followed).
func (d *Dir) Exists(name string) (bool, error) {
	var st unix.Stat_t
	err := unix.Fstatat(int(d.f.Fd()), name, &st, unix.AT_SYMLINK_NOFOLLOW)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, unix.ENOENT):
		return false, nil
	}
	return false, fmt.Errorf("%s: %w", filepath.Join(d.path, name), err)
}

// Fd is the directory's descriptor, for the *at system calls and ioctls
// (Btrfs snapshots) that work in it; it stays the Dir's.
func (d *Dir) Fd() int { return int(d.f.Fd()) }
