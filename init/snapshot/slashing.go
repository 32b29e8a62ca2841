package snapshot

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"syscall"
	"time"
)

// The clients' slashing-protection databases. A rollback restores older
// chain data but never these: a validator whose watermarks went back may
// sign twice and be slashed. Where each name comes from:
//   - Lighthouse: validators/slashing_protection.sqlite (the Lighthouse
//     Book, "Slashing Protection"), an SQLite database;
//   - Nimbus: validators/slashing_protection.sqlite3 (the Nimbus guide,
//     "Migrate from another client" and the data directory layout);
//   - Prysm: validator.db in the validator's data directory (the Prysm
//     documentation, "Command-line options", --datadir), a BoltDB file;
//   - Teku: validator/slashprotection/, one YAML file per key (the Teku
//     documentation, "Slashing protection");
//   - Lodestar: validator-db/ in the validator's data directory
//     (Lodestar's CLI source, getValidatorPaths: validatorsDbDir).
//
// SQLite keeps uncommitted or not yet checkpointed pages beside the file
// (-journal, -wal, -shm): they go with it, and a sibling the live data
// does not have is removed from the restored data, where it would be
// replayed onto the newer database.
var (
	slashingFiles = map[string]string{
		"slashing_protection.sqlite":  "Lighthouse",
		"slashing_protection.sqlite3": "Nimbus",
		"validator.db":                "Prysm",
	}
	slashingDirs = map[string]string{
		"slashprotection": "Teku",
		"validator-db":    "Lodestar",
	}
	sqliteSiblings = []string{"-journal", "-wal", "-shm"}
)

// Protection is one slashing-protection database found in a subvolume.
type Protection struct {
	Client string // Lighthouse, Nimbus, Prysm, Teku, Lodestar
	Path   string // slash-separated, relative to the subvolume
	Dir    bool   // a directory (Teku, Lodestar), copied whole
}

// MatchProtection says whether the entry rel of a subvolume is a client's
// slashing-protection database (a file or, for Teku and Lodestar, a
// directory), at any depth.
func MatchProtection(rel string, dir bool) (Protection, bool) {
	base := path.Base(rel)
	if dir {
		if c, ok := slashingDirs[base]; ok {
			return Protection{Client: c, Path: rel, Dir: true}, true
		}
		return Protection{}, false
	}
	if c, ok := slashingFiles[base]; ok {
		return Protection{Client: c, Path: rel}, true
	}
	return Protection{}, false
}

// FindProtection lists the slashing-protection databases under root.
func FindProtection(root *os.Root) ([]Protection, error) {
	var found []Protection
	err := fs.WalkDir(root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == "." {
			return nil
		}
		if pr, ok := MatchProtection(p, d.IsDir()); ok && (d.IsDir() || d.Type().IsRegular()) {
			found = append(found, pr)
			if d.IsDir() {
				return fs.SkipDir
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("looking for slashing protection in %s: %v", root.Name(), err)
	}
	sort.Slice(found, func(i, j int) bool { return found[i].Path < found[j].Path })
	return found, nil
}

// CarryForward copies the slashing protection of live into restored (a
// writable snapshot about to replace live), replacing what restored has.
// A database that restored has and live lacks is an error: the restored
// one holds older watermarks, and nothing newer can replace it.
func CarryForward(live, restored *os.Root) ([]Protection, error) {
	have, err := FindProtection(live)
	if err != nil {
		return nil, err
	}
	old, err := FindProtection(restored)
	if err != nil {
		return nil, err
	}
	inLive := map[string]bool{}
	for _, p := range have {
		inLive[p.Path] = true
	}
	for _, p := range old {
		if !inLive[p.Path] {
			return nil, fmt.Errorf("%s's slashing protection %s is in the snapshot but no longer in the live data: restoring it would bring back older watermarks", p.Client, p.Path)
		}
	}
	for _, p := range have {
		if err := carry(live, restored, p); err != nil {
			return nil, fmt.Errorf("carrying %s's slashing protection %s forward: %v", p.Client, p.Path, err)
		}
	}
	return have, nil
}

func carry(live, restored *os.Root, p Protection) error {
	if dir := path.Dir(p.Path); dir != "." {
		if err := mkdirLike(live, restored, dir); err != nil {
			return err
		}
	}
	if p.Dir {
		if err := restored.RemoveAll(p.Path); err != nil {
			return err
		}
		return fs.WalkDir(live.FS(), p.Path, func(q string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			switch {
			case d.IsDir():
				return mkdirLike(live, restored, q)
			case d.Type().IsRegular():
				return copyFile(live, restored, q)
			}
			return fmt.Errorf("%s is neither a file nor a directory", q)
		})
	}
	for _, name := range append([]string{p.Path}, siblings(p.Path)...) {
		if _, err := live.Lstat(name); errors.Is(err, fs.ErrNotExist) {
			if err := restored.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			continue
		}
		if err := copyFile(live, restored, name); err != nil {
			return err
		}
	}
	return nil
}

func siblings(p string) []string {
	var s []string
	for _, suf := range sqliteSiblings {
		s = append(s, p+suf)
	}
	return s
}

// mkdirLike makes the directories of rel in restored that it lacks, with
// the mode and owner of live's.
func mkdirLike(live, restored *os.Root, rel string) error {
	if rel == "." || rel == "" {
		return nil
	}
	if err := mkdirLike(live, restored, path.Dir(rel)); err != nil {
		return err
	}
	fi, err := live.Lstat(rel)
	if err != nil {
		return err
	}
	if st, err := restored.Lstat(rel); err == nil {
		if !st.IsDir() {
			return fmt.Errorf("%s is a directory in the live data but not in the snapshot", rel)
		}
		return nil
	}
	if err := restored.Mkdir(rel, fi.Mode().Perm()); err != nil {
		return err
	}
	return chownLike(restored, rel, fi)
}

// copyFile copies the regular file rel from live to restored, with its
// mode and owner (the clients run as their own users), fsynced.
func copyFile(live, restored *os.Root, rel string) error {
	in, err := live.OpenFile(rel, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", rel)
	}
	if err := restored.Remove(rel); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	out, err := restored.OpenFile(rel, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, fi.Mode().Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	if err := chownLike(restored, rel, fi); err != nil {
		return err
	}
	// The copy is the live file, down to its time: only its place changes.
	return restored.Chtimes(rel, atime(fi), fi.ModTime())
}

func atime(fi fs.FileInfo) time.Time {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return time.Unix(st.Atim.Sec, st.Atim.Nsec)
	}
	return fi.ModTime()
}

func chownLike(r *os.Root, rel string, fi fs.FileInfo) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	return r.Lchown(rel, int(st.Uid), int(st.Gid))
}
