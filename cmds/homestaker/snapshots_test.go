package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	snapset "github.com/homestaker/homestaker-boot/init/snapshot"
	"github.com/homestaker/homestaker-boot/init/verify"
)

// snapshotVolume prepares an image, mounts its top level and seeds client
// data, a current and a previous tree, and the record that previous was
// the last booted: the volume just after `install-next` of a new tree.
func snapshotVolume(t *testing.T) (top, cur, prev string) {
	t.Helper()
	needRoot(t)
	img := newImage(t)
	prepareOK(t, append(wgArgs(t), img)...)
	top = mountImage(t, img)
	for rel, s := range map[string]string{
		"erigon/chaindata/mdbx.dat":                        "erigon v1",
		"lighthouse/beacon/chain_db/db":                    "beacon v1",
		"lighthouse/validators/slashing_protection.sqlite": "watermarks 100",
		"boot/current/SHA256SUMS":                          "new tree\n",
		"boot/previous/SHA256SUMS":                         "old tree\n",
	} {
		writeTestFile(t, filepath.Join(top, rel), s)
	}
	cur, _ = verify.TreeIdentity([]byte("new tree\n"), nil)
	prev, _ = verify.TreeIdentity([]byte("old tree\n"), nil)
	if err := snapset.WriteLastBooted(top, snapset.LastBooted{Identity: prev, Tree: "current"}); err != nil {
		t.Fatal(err)
	}
	return top, cur, prev
}

func writeTestFile(t *testing.T, p, s string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(s), 0o640); err != nil {
		t.Fatal(err)
	}
}

func readTestFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		return "<" + err.Error() + ">"
	}
	return string(b)
}

// beforeSet takes the set the init takes before the first boot of the
// new tree, with the init's code.
func beforeSet(t *testing.T, top, cur, prev string) snapset.Entry {
	t.Helper()
	e, err := snapset.Take(top, snapset.Manifest{Reason: "before-current", Tree: "current", Identity: cur, DataOf: prev, Version: "test"}, []string{"erigon", "lighthouse"}, time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func listSets(t *testing.T, top string) []setJSON {
	t.Helper()
	code, out, errOut := cli(t, "snapshots", "--json", top)
	if code != exitOK {
		t.Fatalf("snapshots = %d: %s", code, errOut)
	}
	var sets []setJSON
	if err := json.Unmarshal([]byte(out), &sets); err != nil {
		t.Fatalf("snapshots --json: %v\n%s", err, out)
	}
	return sets
}

func TestSnapshotsAndManualSnapshot(t *testing.T) {
	top, cur, prev := snapshotVolume(t)
	if sets := listSets(t, top); len(sets) != 0 {
		t.Errorf("a new volume has sets: %+v", sets)
	}
	before := beforeSet(t, top, cur, prev)
	code, out, errOut := cli(t, "snapshot", top)
	if code != exitOK || !strings.Contains(out, "read-only snapshots of erigon, lighthouse") {
		t.Fatalf("snapshot = %d\n%s%s", code, out, errOut)
	}
	sets := listSets(t, top)
	if len(sets) != 2 || sets[0].Name != before.Name || sets[0].Reason != "before-current" || sets[0].Identity != cur || sets[1].Reason != "manual" || sets[1].DataOf != prev {
		t.Fatalf("sets = %+v", sets)
	}
	for _, s := range sets {
		if len(s.Snapshots) != 2 || !s.Snapshots[0].ReadOnly || !s.Snapshots[1].ReadOnly || s.Snapshots[0].ID == 0 {
			t.Errorf("set %s: snapshots %+v, want erigon and lighthouse read-only", s.Name, s.Snapshots)
		}
		if s.Exclusive != nil {
			t.Errorf("set %s: a size without quotas: %d", s.Name, *s.Exclusive)
		}
	}
	if got := readTestFile(t, filepath.Join(top, snapset.Dir, before.Name, "lighthouse/validators/slashing_protection.sqlite")); got != "watermarks 100" {
		t.Errorf("snapshot holds %q", got)
	}
	// A read-only snapshot refuses a write.
	if err := os.WriteFile(filepath.Join(top, snapset.Dir, before.Name, "erigon/x"), nil, 0o600); err == nil {
		t.Error("wrote into a read-only snapshot")
	}
	code, out, _ = cli(t, "snapshots", top)
	if code != exitOK || !strings.Contains(out, "before-current") || !strings.Contains(out, "erigon(ro)") || !strings.Contains(out, "unknown (quotas off)") {
		t.Errorf("snapshots:\n%s", out)
	}
}

func TestSnapshotRefusesWhileMountedElsewhere(t *testing.T) {
	top, _, _ := snapshotVolume(t)
	dir := t.TempDir()
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	var dev string
	abs, _ := filepath.Abs(top)
	for _, m := range parseMountinfo(string(mi)) {
		if m.MountPoint == abs {
			dev = m.Source
		}
	}
	if err := unix.Mount(dev, dir, "btrfs", 0, "subvol=erigon"); err != nil {
		t.Fatalf("mount %s subvol=erigon: %v", dev, err)
	}
	defer unix.Unmount(dir, 0)
	code, out, errOut := cli(t, "snapshot", top)
	if code != exitCheck || !strings.Contains(errOut, "mounted read-write at "+dir) || !strings.Contains(errOut, "clients may be running") {
		t.Errorf("snapshot while %s is mounted = %d\n%s%s", dir, code, out, errOut)
	}
	if sets := listSets(t, top); len(sets) != 0 {
		t.Errorf("a refused snapshot left sets: %+v", sets)
	}
}

func TestRollback(t *testing.T) {
	top, cur, prev := snapshotVolume(t)
	before := beforeSet(t, top, cur, prev)
	// The new clients migrate their data and sign on.
	writeTestFile(t, filepath.Join(top, "erigon/chaindata/mdbx.dat"), "erigon v2 (migrated)")
	writeTestFile(t, filepath.Join(top, "lighthouse/beacon/chain_db/db"), "beacon v2 (migrated)")
	writeTestFile(t, filepath.Join(top, "lighthouse/validators/slashing_protection.sqlite"), "watermarks 200")
	writeTestFile(t, filepath.Join(top, "lighthouse/validators/slashing_protection.sqlite-wal"), "wal 200")
	if err := snapset.WriteLastBooted(top, snapset.LastBooted{Identity: cur, Tree: "current"}); err != nil {
		t.Fatal(err)
	}

	code, out, errOut := cli(t, "rollback", "--dry-run", top)
	if code != exitOK || !strings.Contains(out, "would roll back erigon, lighthouse to "+before.Name) ||
		!strings.Contains(out, "slashing protection carried forward: lighthouse/validators/slashing_protection.sqlite (Lighthouse)") ||
		!strings.Contains(out, "/boot/previous ("+prev[:12]) || !strings.Contains(out, "nothing changed") {
		t.Fatalf("rollback --dry-run = %d\n%s%s", code, out, errOut)
	}
	if got := readTestFile(t, filepath.Join(top, "erigon/chaindata/mdbx.dat")); got != "erigon v2 (migrated)" {
		t.Errorf("--dry-run changed erigon: %q", got)
	}
	if sets := listSets(t, top); len(sets) != 1 {
		t.Errorf("--dry-run made a set: %+v", sets)
	}

	code, out, errOut = cli(t, "rollback", "--to", before.Name, top)
	if code != exitOK || !strings.Contains(out, "rolled back erigon, lighthouse") {
		t.Fatalf("rollback = %d\n%s%s", code, out, errOut)
	}
	for rel, want := range map[string]string{
		"erigon/chaindata/mdbx.dat":                            "erigon v1",
		"lighthouse/beacon/chain_db/db":                        "beacon v1",
		"lighthouse/validators/slashing_protection.sqlite":     "watermarks 200",
		"lighthouse/validators/slashing_protection.sqlite-wal": "wal 200",
		"boot/current/SHA256SUMS":                              "old tree\n",
		"boot/previous/SHA256SUMS":                             "new tree\n",
	} {
		if got := readTestFile(t, filepath.Join(top, rel)); got != want {
			t.Errorf("after the rollback %s = %q, want %q", rel, got, want)
		}
	}
	// The live data is writable again, the replaced data kept read-only.
	if err := os.WriteFile(filepath.Join(top, "erigon/new"), nil, 0o600); err != nil {
		t.Errorf("the restored erigon is not writable: %v", err)
	}
	sets := listSets(t, top)
	if len(sets) != 2 || sets[1].Reason != "failed-current" || sets[1].Identity != cur {
		t.Fatalf("sets after the rollback: %+v", sets)
	}
	failed := filepath.Join(top, snapset.Dir, sets[1].Name)
	if got := readTestFile(t, filepath.Join(failed, "erigon/chaindata/mdbx.dat")); got != "erigon v2 (migrated)" {
		t.Errorf("failed set holds %q", got)
	}
	if !strings.Contains(out, "kept read-only in "+failed) {
		t.Errorf("rollback does not say where the replaced data is:\n%s", out)
	}
	for _, n := range []string{".erigon.restore", ".lighthouse.restore"} {
		if _, err := os.Lstat(filepath.Join(top, n)); err == nil {
			t.Errorf("%s left behind", n)
		}
	}
	if lb, _ := snapset.ReadLastBooted(top); lb.Identity != prev {
		t.Errorf("last-booted = %+v, want the restored tree %s", lb, prev)
	}
}

// A validator database the live data no longer has would come back with
// older watermarks: the rollback is refused and nothing changes.
func TestRollbackRefusesLostSlashingProtection(t *testing.T) {
	top, cur, prev := snapshotVolume(t)
	beforeSet(t, top, cur, prev)
	if err := os.Remove(filepath.Join(top, "lighthouse/validators/slashing_protection.sqlite")); err != nil {
		t.Fatal(err)
	}
	writeTestFile(t, filepath.Join(top, "erigon/chaindata/mdbx.dat"), "erigon v2")
	code, out, errOut := cli(t, "rollback", top)
	if code != exitCheck || !strings.Contains(errOut, "Lighthouse's slashing protection validators/slashing_protection.sqlite is in the snapshot but no longer in the live data") {
		t.Errorf("rollback = %d\n%s%s", code, out, errOut)
	}
	if got := readTestFile(t, filepath.Join(top, "erigon/chaindata/mdbx.dat")); got != "erigon v2" {
		t.Errorf("a refused rollback changed erigon: %q", got)
	}
}

// With quotas enabled, Btrfs knows what each set holds on its own.
func TestSnapshotsSizesFromQgroups(t *testing.T) {
	top, cur, prev := snapshotVolume(t)
	for _, args := range [][]string{{"quota", "enable", top}, {"quota", "rescan", "-w", top}} {
		if out, err := exec.Command("btrfs", args...).CombinedOutput(); err != nil {
			t.Skipf("btrfs %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	beforeSet(t, top, cur, prev)
	exec.Command("btrfs", "quota", "rescan", "-w", top).Run()
	sets := listSets(t, top)
	if len(sets) != 1 || sets[0].Exclusive == nil {
		t.Fatalf("sets with quotas on: %+v", sets)
	}
	code, out, _ := cli(t, "snapshots", top)
	if code != exitOK || !strings.Contains(out, "exclusive") {
		t.Errorf("snapshots with quotas on:\n%s", out)
	}
}

// install-next says what the new tree's first boot will snapshot, or why
// it cannot.
func TestInstallNextSaysWhatIsSnapshotted(t *testing.T) {
	top, _, _ := snapshotVolume(t)
	code, out, errOut := cli(t, "install-next", "--volume", top, kexecTree(t, "one"))
	if code != exitOK || !strings.Contains(out, "snapshots: the first boot of the new tree takes read-only snapshots of erigon, lighthouse under "+filepath.Join(top, "snapshots")) {
		t.Errorf("install-next on Btrfs = %d\n%s%s", code, out, errOut)
	}
	var st unix.Statfs_t
	plain := t.TempDir()
	if unix.Statfs(plain, &st) == nil && st.Type != unix.BTRFS_SUPER_MAGIC {
		code, out, errOut = cli(t, "install-next", "--volume", plain, kexecTree(t, "one"))
		if code != exitOK || !strings.Contains(out, "snapshots: none: the volume is not Btrfs") {
			t.Errorf("install-next off Btrfs = %d\n%s%s", code, out, errOut)
		}
	}
}
