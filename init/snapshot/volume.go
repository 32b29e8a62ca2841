package snapshot

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/homestaker/homestaker-boot/init/atomicfile"
	"github.com/homestaker/homestaker-boot/init/volfile"
)

// Entry is a set found under snapshots/.
type Entry struct {
	Set
	Manifest Manifest
	// Problem says what is wrong with the set (no manifest: a set cut off
	// while it was taken), "" when it is whole.
	Problem string
}

// List reads the sets under top/snapshots, oldest first; a missing
// snapshots/ is no set. Directories that are not sets are left out.
func List(top string) ([]Entry, error) {
	root, err := os.OpenRoot(top)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	ents, err := fs.ReadDir(root.FS(), Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %v", path.Join(top, Dir), err)
	}
	var out []Entry
	for _, de := range ents {
		if !de.IsDir() {
			continue
		}
		s, err := ParseName(de.Name())
		if err != nil {
			continue
		}
		e := Entry{Set: s}
		p := path.Join(Dir, s.Name, ManifestFile)
		b, err := volfile.ReadFile(root, p, path.Join(top, p), 1<<16)
		if err == nil {
			e.Manifest, err = ParseManifest(b)
		}
		if err != nil {
			e.Problem = err.Error()
		}
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out, nil
}

// Sets is the sets of entries, for Prune.
func Sets(es []Entry) []Set {
	var s []Set
	for _, e := range es {
		s = append(s, e.Set)
	}
	return s
}

// Take makes a set of read-only snapshots of the subvolumes names of the
// top level at top (mounted writable), with its manifest m (Subvolumes
// and Time are filled in). The manifest is written last: a set without
// one was cut off.
func Take(top string, m Manifest, names []string, now time.Time) (Entry, error) {
	m.Time = now.UTC().Truncate(time.Second)
	m.Subvolumes = names
	kind, _, _ := strings.Cut(m.Reason, "-")
	name := FormatName(now, kind, m.Tree, m.Identity)
	s, err := ParseName(name)
	if err != nil {
		return Entry{}, err
	}
	d, err := atomicfile.OpenDir(top, Dir, true, 0o700)
	if err != nil {
		return Entry{}, err
	}
	defer d.Close()
	if err := unix.Mkdirat(d.Fd(), name, 0o700); err != nil {
		return Entry{}, fmt.Errorf("creating %s: %v", path.Join(d.Path(), name), err)
	}
	set, err := atomicfile.OpenDir(top, path.Join(Dir, name), false, 0)
	if err != nil {
		return Entry{}, err
	}
	defer set.Close()
	for _, n := range names {
		if err := snapshotTo(top, n, set, n, true); err != nil {
			return Entry{}, err
		}
	}
	if err := set.WriteFile(ManifestFile, m.Marshal(), 0o644); err != nil {
		return Entry{}, err
	}
	return Entry{Set: s, Manifest: m}, d.Sync()
}

// snapshotTo snapshots the subvolume src (relative to top) into dst as
// name.
func snapshotTo(top, src string, dst *atomicfile.Dir, name string, ro bool) error {
	sd, err := atomicfile.OpenDir(top, src, false, 0)
	if err != nil {
		return err
	}
	defer sd.Close()
	if err := snapshotInto(sd.Fd(), dst.Fd(), name, ro); err != nil {
		what := "a snapshot"
		if ro {
			what = "a read-only snapshot"
		}
		return fmt.Errorf("%s of %s as %s: %v", what, path.Join(top, src), path.Join(dst.Path(), name), err)
	}
	return nil
}

// Delete deletes the set name: its snapshots, its manifest, its
// directory.
func Delete(top, name string) error {
	set, err := atomicfile.OpenDir(top, path.Join(Dir, name), false, 0)
	if err != nil {
		return err
	}
	names, err := set.Names()
	if err != nil {
		set.Close()
		return err
	}
	for _, n := range names {
		if n == ManifestFile {
			continue
		}
		if err := destroy(set.Fd(), n); err != nil {
			set.Close()
			return fmt.Errorf("deleting snapshot %s: %v", path.Join(set.Path(), n), err)
		}
	}
	if err := set.Remove(ManifestFile); err != nil {
		set.Close()
		return err
	}
	set.Close()
	d, err := atomicfile.OpenDir(top, Dir, false, 0)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := unix.Unlinkat(d.Fd(), name, unix.AT_REMOVEDIR); err != nil {
		return fmt.Errorf("removing %s: %v", path.Join(d.Path(), name), err)
	}
	return d.Sync()
}

// ReadOnly reports whether the snapshot (or subvolume) at rel under top
// is read-only.
func ReadOnly(top, rel string) (bool, error) {
	d, err := atomicfile.OpenDir(top, rel, false, 0)
	if err != nil {
		return false, err
	}
	defer d.Close()
	return readOnly(d.Fd())
}

// SubvolumeID is the Btrfs id of the subvolume at rel under top.
func SubvolumeID(top, rel string) (uint64, error) {
	d, err := atomicfile.OpenDir(top, rel, false, 0)
	if err != nil {
		return 0, err
	}
	defer d.Close()
	return subvolID(d.Fd())
}
