package initrd

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"

	"golang.org/x/sys/unix"
)

// Unpack unpacks an initrd into dir as the kernel unpacks one into
// its rootfs: a sequence of segments, each a plain cpio archive or a zstd,
// xz or gzip stream of archives, with zero bytes between them (early
// microcode is a plain archive in front of the compressed main one).
// Entries are created with their modes, owners (when running as root) and
// times; device nodes that need root are skipped without it. Names are
// resolved inside dir only: an absolute name, ".." or a path through a
// symlink pointing out of dir is an error naming the entry.
func Unpack(r io.ReaderAt, size int64, dir string) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	w := &diskWriter{
		root:  root,
		chown: os.Geteuid() == 0,
		links: map[inodeKey]string{},
		dirs:  map[string]dirMeta{},
		buf:   make([]byte, 64<<10),
	}
	defer w.close()
	if err := readInitrd(r, size, w); err != nil {
		return err
	}
	return w.finish()
}

// diskWriter creates the entries under root. Directory modes and times are
// set at the end, so that a read-only directory can still be filled and
// its time is not changed by what is created in it.
type diskWriter struct {
	root  *os.Root
	chown bool // running as root: set owners, create device nodes

	links map[inodeKey]string // first name of each multiply linked inode, per archive
	dirs  map[string]dirMeta
	order []string // directories in creation order

	parent    string   // the directory parentFd is open on
	parentDir *os.File // cached: entries come directory by directory
	buf       []byte
}

type inodeKey struct{ major, minor, ino uint32 }

type dirMeta struct{ mode, mtime uint32 }

func (w *diskWriter) endArchive() { clear(w.links) }

func (w *diskWriter) entry(e *cpioEntry, data io.Reader) error {
	if err := w.create(e, data); err != nil {
		return fmt.Errorf("cpio entry %q: %w", e.Name, err)
	}
	return nil
}

func (w *diskWriter) create(e *cpioEntry, data io.Reader) error {
	if e.Name == "." {
		if e.typ() != sIFDIR {
			return errors.New("the archive's root is not a directory")
		}
		w.setDirMeta(".", e)
		if w.chown {
			return w.root.Chown(".", int(e.UID), int(e.GID))
		}
		return nil
	}
	dir, base := path.Dir(e.Name), path.Base(e.Name)
	pd, err := w.openParent(dir)
	if err != nil {
		return err
	}
	fd := int(pd.Fd())
	switch e.typ() {
	case sIFDIR:
		if exists, err := w.replace(fd, e.Name, base, sIFDIR); err != nil {
			return err
		} else if !exists {
			if err := unix.Mkdirat(fd, base, 0o700); err != nil {
				return fmt.Errorf("mkdir: %w", err)
			}
		}
		w.setDirMeta(e.Name, e)
		return w.owner(fd, base, e)
	case sIFREG:
		return w.createFile(fd, base, e, data)
	case sIFLNK:
		if e.Size > cpioMaxLink {
			return fmt.Errorf("symlink target of %d bytes", e.Size)
		}
		target, err := io.ReadAll(data)
		if err != nil {
			return err
		}
		if _, err := w.replace(fd, e.Name, base, sIFLNK); err != nil {
			return err
		}
		if err := unix.Symlinkat(string(target), fd, base); err != nil {
			return fmt.Errorf("symlink: %w", err)
		}
		if err := w.owner(fd, base, e); err != nil {
			return err
		}
		return w.mtime(fd, base, e)
	case sIFCHR, sIFBLK, sIFIFO, sIFSOCK:
		if _, err := w.replace(fd, e.Name, base, e.typ()); err != nil {
			return err
		}
		dev := int(unix.Mkdev(e.RdevMajor, e.RdevMinor))
		if err := unix.Mknodat(fd, base, e.Mode, dev); err != nil {
			if err == unix.EPERM && !w.chown {
				return nil // a device node needs root; tests run without
			}
			return fmt.Errorf("mknod: %w", err)
		}
		if err := w.owner(fd, base, e); err != nil {
			return err
		}
		if err := unix.Fchmodat(fd, base, e.Mode&0o7777, 0); err != nil {
			return fmt.Errorf("chmod: %w", err)
		}
		return w.mtime(fd, base, e)
	}
	return fmt.Errorf("unknown file type %#o", e.typ())
}

func (w *diskWriter) createFile(dirfd int, base string, e *cpioEntry, data io.Reader) error {
	flags := unix.O_WRONLY | unix.O_CREAT | unix.O_TRUNC
	var key inodeKey
	linked := e.Nlink >= 2
	if linked {
		key = inodeKey{e.DevMajor, e.DevMinor, e.Ino}
		if first, ok := w.links[key]; ok && first != e.Name {
			// A later name of an inode: link it, and write the data
			// into the shared file if this name carries it (GNU cpio
			// puts it with the last name).
			if _, err := w.replace(dirfd, e.Name, base, 0); err != nil {
				return err
			}
			if err := w.root.Link(first, e.Name); err != nil {
				return fmt.Errorf("hard link to %q: %w", first, err)
			}
			if e.Size == 0 {
				return nil
			}
			flags = unix.O_WRONLY
		}
	}
	if flags&unix.O_CREAT != 0 {
		if _, err := w.replace(dirfd, e.Name, base, sIFREG); err != nil {
			return err
		}
		if linked {
			w.links[key] = e.Name
		}
	}
	fd, err := unix.Openat(dirfd, base, flags|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("create: %w", err)
	}
	f := os.NewFile(uintptr(fd), e.Name)
	defer f.Close()
	if _, err := io.CopyBuffer(struct{ io.Writer }{f}, data, w.buf); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if w.chown {
		if err := unix.Fchown(fd, int(e.UID), int(e.GID)); err != nil {
			return fmt.Errorf("chown: %w", err)
		}
	}
	// After chown, which clears set-user-ID bits.
	if err := unix.Fchmod(fd, e.Mode&0o7777); err != nil {
		return fmt.Errorf("chmod: %w", err)
	}
	t := unix.NsecToTimeval(int64(e.Mtime) * 1e9)
	if err := unix.Futimes(fd, []unix.Timeval{t, t}); err != nil {
		return fmt.Errorf("set times: %w", err)
	}
	return f.Close()
}

// replace makes way for a new entry of type typ (0: always make way): an
// existing entry of another type is removed, as the kernel does. It
// reports whether an entry of the same type stays.
func (w *diskWriter) replace(dirfd int, name, base string, typ uint32) (bool, error) {
	var st unix.Stat_t
	if err := unix.Fstatat(dirfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err == unix.ENOENT {
		return false, nil
	} else if err != nil {
		return false, fmt.Errorf("stat: %w", err)
	}
	have := st.Mode & sIFMT
	if typ != 0 && have == typ && (typ == sIFDIR || typ == sIFREG) {
		return true, nil
	}
	flags := 0
	if have == sIFDIR {
		flags = unix.AT_REMOVEDIR
		delete(w.dirs, name)
	}
	if err := unix.Unlinkat(dirfd, base, flags); err != nil {
		return false, fmt.Errorf("replacing what an earlier entry made: %w", err)
	}
	return false, nil
}

func (w *diskWriter) owner(dirfd int, base string, e *cpioEntry) error {
	if !w.chown {
		return nil
	}
	if err := unix.Fchownat(dirfd, base, int(e.UID), int(e.GID), unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("chown: %w", err)
	}
	return nil
}

func (w *diskWriter) mtime(dirfd int, base string, e *cpioEntry) error {
	t := unix.NsecToTimespec(int64(e.Mtime) * 1e9)
	if err := unix.UtimesNanoAt(dirfd, base, []unix.Timespec{t, t}, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("set times: %w", err)
	}
	return nil
}

func (w *diskWriter) setDirMeta(name string, e *cpioEntry) {
	if _, ok := w.dirs[name]; !ok {
		w.order = append(w.order, name)
	}
	w.dirs[name] = dirMeta{mode: e.Mode & 0o7777, mtime: e.Mtime}
}

// openParent opens the directory dir (creating it and its parents when
// the archive did not list them) through root, so that no symlink leads
// out of it.
func (w *diskWriter) openParent(dir string) (*os.File, error) {
	if w.parentDir != nil && w.parent == dir {
		return w.parentDir, nil
	}
	if w.parentDir != nil {
		w.parentDir.Close()
		w.parentDir = nil
	}
	if dir != "." {
		if err := w.root.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
	}
	f, err := w.root.Open(dir)
	if err != nil {
		return nil, err
	}
	w.parent, w.parentDir = dir, f
	return f, nil
}

// finish sets directory modes and times, the latest made first.
func (w *diskWriter) finish() error {
	if w.parentDir != nil {
		w.parentDir.Close()
		w.parentDir = nil
	}
	for i := len(w.order) - 1; i >= 0; i-- {
		name := w.order[i]
		m, ok := w.dirs[name]
		if !ok {
			continue // replaced by a later entry
		}
		f, err := w.root.Open(name)
		if err != nil {
			return fmt.Errorf("cpio entry %q: %w", name, err)
		}
		fd := int(f.Fd())
		err = unix.Fchmod(fd, m.mode)
		if err == nil {
			t := unix.NsecToTimeval(int64(m.mtime) * 1e9)
			err = unix.Futimes(fd, []unix.Timeval{t, t})
		}
		f.Close()
		if err != nil {
			return fmt.Errorf("cpio entry %q: %w", name, err)
		}
	}
	return nil
}

func (w *diskWriter) close() {
	if w.parentDir != nil {
		w.parentDir.Close()
	}
	w.root.Close()
}
