// Package atomicfile replaces files whole: a reader, or the file system
// after a power cut, finds the old content or the new, never part of
// either. The init and the homestaker CLI write every file they replace
// (keys, the JWT, resolv.conf, the boot report, boot counts) through it.
package atomicfile

import (
	"fmt"
	"os"
	"path/filepath"
)

// WriteFile replaces path with data durably: it writes a temporary file in
// the same directory (mode 0600 while it is written), fsyncs it, sets perm,
// renames it over path and fsyncs the directory so that the rename itself
// survives a power cut. The directory must exist. A failed write leaves
// the old file as it was and no temporary file.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	if err := Replace(path, data, perm); err != nil {
		return err
	}
	return SyncDir(dir(path))
}

// Replace is WriteFile without the fsync of the directory: readers see the
// old file or the new one whole, but a power cut may undo the rename. It
// serves files in memory (/etc, /run) and writes that a sync of the whole
// file system follows.
func Replace(path string, data []byte, perm os.FileMode) (err error) {
	f, err := os.CreateTemp(dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("writing %s: %w", tmp, err)
	}
	if err := f.Chmod(perm); err != nil {
		return fmt.Errorf("chmod %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("closing %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("renaming %s to %s: %w", tmp, path, err)
	}
	return nil
}

// SyncDir fsyncs the directory dir, so that the entries created, renamed
// or removed in it survive a power cut.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("fsync of directory %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync of directory %s: %w", dir, err)
	}
	return nil
}

// dir is path's directory, "." for a bare name.
func dir(path string) string {
	d, _ := filepath.Split(path)
	if d == "" {
		return "."
	}
	return d
}
