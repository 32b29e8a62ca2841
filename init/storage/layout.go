package storage

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Kind is what one name of homestaker.subvols is on the volume.
type Kind string

const (
	// KindSubvolume: a Btrfs subvolume, mounted on its own with subvol=.
	KindSubvolume Kind = "subvolume"
	// KindDirectory: a plain directory on the volume (ext4, xfs, or
	// Btrfs without a subvolume of that name), reached through the mount
	// of the whole volume at homestaker.mnt.
	KindDirectory Kind = "directory"
)

// Name is one name of homestaker.subvols as the stage found it.
type Name struct {
	Name string `json:"name"` // as in homestaker.subvols: "erigon"
	Kind Kind   `json:"kind"`
	Path string `json:"path"` // where the init and the next stage see it: /mnt/erigon
}

// btrfsFirstFreeObjectID is the inode number of every subvolume's root
// directory (BTRFS_FIRST_FREE_OBJECTID).
const btrfsFirstFreeObjectID = 256

// KindOf tells what the directory at dir is: a Btrfs subvolume (its root
// has inode 256 on a Btrfs) or a plain directory. A symbolic link is
// refused, not followed: the volume is hostile input, and a link could
// point the clients' data anywhere. The error names what is there.
func KindOf(dir string) (Kind, error) {
	var st unix.Stat_t
	if err := unix.Lstat(dir, &st); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return "", fmt.Errorf("no subvolume or directory %q on the volume: %w", filepath.Base(dir), fs.ErrNotExist)
		}
		return "", fmt.Errorf("%s: %v", dir, err)
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
	case unix.S_IFLNK:
		return "", fmt.Errorf("%s on the volume is a symbolic link, not a directory or subvolume", filepath.Base(dir))
	default:
		return "", fmt.Errorf("%s on the volume is a file, not a directory or subvolume", filepath.Base(dir))
	}
	var sfs unix.Statfs_t
	if err := unix.Statfs(dir, &sfs); err != nil {
		return "", fmt.Errorf("%s: %v", dir, err)
	}
	if sfs.Type == unix.BTRFS_SUPER_MAGIC && st.Ino == btrfsFirstFreeObjectID {
		return KindSubvolume, nil
	}
	return KindDirectory, nil
}

// SecretsModeWarning is the warning for a secrets directory that other
// users may list or enter, "" when it is closed to them. Only a plain
// directory needs it: a subvolume gets its own nosuid,nodev,noexec mount,
// a directory shares the volume's mount and its mode is all that keeps
// other users out.
func SecretsModeWarning(dir string, mode os.FileMode) string {
	if mode.Perm()&0o005 == 0 {
		return ""
	}
	return fmt.Sprintf("%s is a plain directory with mode %04o: other users may read into it, and it cannot get a nosuid,nodev,noexec mount of its own as a subvolume does; close it with `chmod 700 %s` (or make it a Btrfs subvolume)", dir, mode.Perm(), dir)
}

// names looks up every name of homestaker.subvols under root (the top
// level as mounted) and tells what each is; missing or unusable names are
// collected, so the operator learns of all of them at once.
func names(root, mnt string, subvols []string) ([]Name, []string) {
	var out []Name
	var bad []string
	for _, n := range subvols {
		k, err := KindOf(filepath.Join(root, n))
		if err != nil {
			bad = append(bad, err.Error())
			continue
		}
		out = append(out, Name{Name: n, Kind: k, Path: filepath.Join(mnt, n)})
	}
	return out, bad
}

// DescribeLayout says what the names are, for the storage line and
// `homestaker check`: "subvolumes", "directories", or for a mix
// "subvolume erigon, directories secrets lighthouse".
func DescribeLayout(ns []Name) string {
	var sub, dir []string
	for _, n := range ns {
		if n.Kind == KindSubvolume {
			sub = append(sub, n.Name)
		} else {
			dir = append(dir, n.Name)
		}
	}
	switch {
	case len(dir) == 0:
		return "subvolumes"
	case len(sub) == 0:
		return "directories"
	}
	plural := func(one, many string, l []string) string {
		if len(l) == 1 {
			return one + " " + l[0]
		}
		return many + " " + strings.Join(l, " ")
	}
	return plural("subvolume", "subvolumes", sub) + ", " + plural("directory", "directories", dir)
}
