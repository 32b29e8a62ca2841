package snapshot

import (
	"errors"
	"fmt"
	"os"
	"path"
	"slices"
	"time"

	"golang.org/x/sys/unix"

	"github.com/homestaker/homestaker-boot/init/atomicfile"
)

// Rollback is a rollback made ready: the live data kept read-only in a
// failed- set, and beside each live subvolume a writable snapshot of the
// set's copy with the live slashing protection carried into it. Swap puts
// the copies in place; Abort deletes them and leaves the live data as it
// was.
type Rollback struct {
	top     string
	From    Entry                   // the set restored
	Failed  Entry                   // the set that keeps the replaced data
	Names   []string                // the subvolumes restored
	Carried map[string][]Protection // per name: the slashing protection carried forward
	staged  []string                // staging names made, in Names order
}

// stagingName is where a restored copy waits beside the live subvolume
// name until the swap; after the swap it holds the replaced data until
// that is deleted.
func stagingName(name string) string { return "." + name + ".restore" }

// Check says what a rollback of the live subvolumes to e would restore
// and which slashing protection it would carry forward, writing nothing:
// `homestaker rollback --dry-run`, and the refusal before anything is
// written. The names restored are those of live that the set holds.
func Check(top string, e Entry, live []string) ([]string, map[string][]Protection, error) {
	if e.Problem != "" {
		return nil, nil, fmt.Errorf("set %s: %s", e.Name, e.Problem)
	}
	var names []string
	for _, n := range live {
		if slices.Contains(e.Manifest.Subvolumes, n) {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return nil, nil, fmt.Errorf("set %s holds none of %v (it has %v)", e.Name, live, e.Manifest.Subvolumes)
	}
	carried := map[string][]Protection{}
	for _, n := range names {
		have, old, err := protectionOf(top, n, path.Join(Dir, e.Name, n))
		if err != nil {
			return nil, nil, err
		}
		if err := checkCarry(have, old); err != nil {
			return nil, nil, fmt.Errorf("%s: %v", n, err)
		}
		carried[n] = have
	}
	return names, carried, nil
}

func protectionOf(top, live, snap string) (have, old []Protection, err error) {
	lr, err := os.OpenRoot(path.Join(top, live))
	if err != nil {
		return nil, nil, err
	}
	defer lr.Close()
	sr, err := os.OpenRoot(path.Join(top, snap))
	if err != nil {
		return nil, nil, err
	}
	defer sr.Close()
	if have, err = FindProtection(lr); err != nil {
		return nil, nil, err
	}
	if old, err = FindProtection(sr); err != nil {
		return nil, nil, err
	}
	return have, old, nil
}

// checkCarry refuses a rollback that would bring back slashing
// protection the live data no longer has (see CarryForward).
func checkCarry(have, old []Protection) error {
	for _, o := range old {
		if !slices.ContainsFunc(have, func(h Protection) bool { return h.Path == o.Path }) {
			return fmt.Errorf("%s's slashing protection %s is in the snapshot but no longer in the live data: restoring it would bring back older watermarks", o.Client, o.Path)
		}
	}
	return nil
}

// Prepare keeps the live subvolumes in a failed- set (manifest failed)
// and stages the set e's copies with the slashing protection carried
// forward. On error nothing live has changed; the failed- set, if made,
// stays (nothing is deleted).
func Prepare(top string, e Entry, live []string, failed Manifest, now time.Time) (*Rollback, error) {
	names, _, err := Check(top, e, live)
	if err != nil {
		return nil, err
	}
	r := &Rollback{top: top, From: e, Names: names, Carried: map[string][]Protection{}}
	if r.Failed, err = Take(top, failed, names, now); err != nil {
		return nil, fmt.Errorf("keeping the live data before the rollback: %v", err)
	}
	d, err := atomicfile.OpenDir(top, ".", false, 0)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	for _, n := range names {
		st := stagingName(n)
		if ok, _ := d.Exists(st); ok {
			// Left by a rollback cut off before its swap.
			if err := destroy(d.Fd(), st); err != nil {
				return nil, fmt.Errorf("deleting the leftover %s: %v", path.Join(top, st), err)
			}
		}
		if err := snapshotTo(top, path.Join(Dir, e.Name, n), d, st, false); err != nil {
			r.Abort()
			return nil, err
		}
		r.staged = append(r.staged, st)
		lr, err := os.OpenRoot(path.Join(top, n))
		if err != nil {
			r.Abort()
			return nil, err
		}
		sr, err := os.OpenRoot(path.Join(top, st))
		if err != nil {
			lr.Close()
			r.Abort()
			return nil, err
		}
		carried, err := CarryForward(lr, sr)
		lr.Close()
		sr.Close()
		if err != nil {
			r.Abort()
			return nil, fmt.Errorf("%s: %v", n, err)
		}
		r.Carried[n] = carried
	}
	unix.Sync()
	return r, nil
}

// Abort deletes the staged copies.
func (r *Rollback) Abort() {
	d, err := atomicfile.OpenDir(r.top, ".", false, 0)
	if err != nil {
		return
	}
	defer d.Close()
	for _, st := range r.staged {
		destroy(d.Fd(), st)
	}
	r.staged = nil
}

// Swap exchanges each live subvolume with its staged copy (one atomic
// rename each) and deletes the replaced data, which the failed- set
// keeps. The live subvolumes must not be mounted: a mount keeps the
// subvolume it mounted, whatever its name becomes.
func (r *Rollback) Swap() error {
	d, err := atomicfile.OpenDir(r.top, ".", false, 0)
	if err != nil {
		return err
	}
	defer d.Close()
	var errs []error
	for _, n := range r.Names {
		st := stagingName(n)
		if err := unix.Renameat2(d.Fd(), st, d.Fd(), n, unix.RENAME_EXCHANGE); err != nil {
			errs = append(errs, fmt.Errorf("exchanging %s with %s: %v", path.Join(r.top, n), path.Join(r.top, st), err))
			destroy(d.Fd(), st)
			continue
		}
		if err := destroy(d.Fd(), st); err != nil {
			errs = append(errs, fmt.Errorf("deleting the replaced %s (kept in %s; delete it with `btrfs subvolume delete %s`): %v", n, path.Join(r.top, Dir, r.Failed.Name), path.Join(r.top, st), err))
		}
	}
	r.staged = nil
	if err := d.Sync(); err != nil {
		errs = append(errs, err)
	}
	unix.Sync()
	return errors.Join(errs...)
}
