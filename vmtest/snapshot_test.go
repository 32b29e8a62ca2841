package vmtest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/homestaker/homestaker-boot/vmtest/fixture"
)

// namedTree is a kexec tree whose identity is its own: the command line
// names it (the stage 2 ignores the extra parameter).
func namedTree(t testing.TB, name string) string {
	t.Helper()
	dir := treeDir(t)
	if err := os.WriteFile(filepath.Join(dir, "kexec-boot"), []byte(fixture.KexecBoot(fixture.Stage2Cmdline+" test.tree="+name)), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// snapshotDisk is a disk made by `homestaker prepare` with chain data, a
// slashing-protection database with known watermarks, and two trees
// installed: old as /boot/previous, new as /boot/current, never booted.
func snapshotDisk(t testing.TB) *Disk {
	t.Helper()
	d := PrepareDisk(t, WithTunnel...)
	d.SeedData()
	d.WriteFile("lighthouse/validators/slashing_protection.sqlite", "watermarks epoch 100", 0o600)
	d.InstallNext(namedTree(t, "old"))
	d.InstallNext(namedTree(t, "new"))
	return d
}

var setRe = regexp.MustCompile(`snapshots/(\d{8}T\d{6}Z-[a-z]+-[a-z]+-[0-9a-f]{12})`)

// setIn is the first set named in out.
func setIn(t *testing.T, out, kind string) string {
	t.Helper()
	for _, m := range setRe.FindAllStringSubmatch(out, -1) {
		if strings.Contains(m[1], "-"+kind+"-") {
			return m[1]
		}
	}
	t.Fatalf("the console names no %s- set:\n%s", kind, out)
	return ""
}

// hostBtrfs runs btrfs-progs on the host on the mounted top level.
func hostBtrfs(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("btrfs", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("btrfs %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// readOnlySnapshots checks on the host that the set holds a read-only
// snapshot of each name, and returns `btrfs subvolume list -s`.
func (d *Disk) readOnlySnapshots(t *testing.T, set string, names ...string) string {
	t.Helper()
	var list string
	d.Edit(func(top string) {
		list = hostBtrfs(t, "subvolume", "list", "-s", top)
		for _, n := range names {
			p := filepath.Join(top, "snapshots", set, n)
			if !strings.Contains(list, "path snapshots/"+set+"/"+n+"\n") {
				t.Errorf("btrfs subvolume list -s lacks snapshots/%s/%s:\n%s", set, n, list)
			}
			if got := strings.TrimSpace(hostBtrfs(t, "property", "get", "-ts", p, "ro")); got != "ro=true" {
				t.Errorf("%s: %s, want ro=true", p, got)
			}
		}
		if _, err := os.Stat(filepath.Join(top, "snapshots", set, "manifest.json")); err != nil {
			t.Errorf("set %s: %v", set, err)
		}
	})
	return list
}

// migrate changes the data as the new image's clients would: a database
// migrated to a new version, newer slashing watermarks.
func (d *Disk) migrate() {
	d.WriteFile("erigon/chaindata/mdbx.dat", "erigon database, major version 3 (migrated)", 0o644)
	d.WriteFile("lighthouse/beacon/chain_db/000123.ldb", "beacon schema v22 (migrated)", 0o644)
	d.WriteFile("lighthouse/validators/slashing_protection.sqlite", "watermarks epoch 200", 0o600)
}

// The first boot of a new tree takes read-only snapshots of erigon and
// lighthouse; a reboot of it takes none. Its clients migrate the data,
// it never marks itself good, and boot counting falls back: the chain
// data comes back as it was before the tree's first boot, the slashing
// protection keeps the newer watermarks, and the migrated data is kept in
// a failed- set.
func TestSnapshotBeforeNewTreeThenRollback(t *testing.T) {
	d := snapshotDisk(t)
	before := d.DataDigest("lighthouse/validators/slashing_protection.sqlite")
	args := append([]string{"homestaker.tries=2"}, volumeFaultArgs...)

	vm := Boot(t, bench.initramfs, args, Drive(d.Path))
	out := vm.Expect("[  OK  ] handover")
	if !strings.Contains(out, "read-only snapshots of erigon, lighthouse in snapshots/") || !strings.Contains(out, "before the first boot of current") {
		t.Errorf("boot 1 took no snapshot:\n%s", out)
	}
	set := setIn(t, out, "before")
	expectStage2(t, vm)
	list := d.readOnlySnapshots(t, set, "erigon", "lighthouse")
	if strings.Contains(list, "secrets") {
		t.Errorf("the secrets were snapshotted:\n%s", list)
	}

	vm = Boot(t, bench.initramfs, args, Drive(d.Path))
	out = vm.Expect("[  OK  ] handover")
	if !strings.Contains(out, "was booted before: no snapshot") || strings.Contains(out, "read-only snapshots of") {
		t.Errorf("boot 2 of the same tree:\n%s", out)
	}
	expectStage2(t, vm)
	if again := d.readOnlySnapshots(t, set); strings.Count(again, "path snapshots/") != 2 {
		t.Errorf("boot 2 changed the snapshots:\n%s", again)
	}

	d.migrate()
	vm = Boot(t, bench.initramfs, args, Drive(d.Path))
	out = vm.Expect("[  OK  ] handover")
	for _, want := range []string{
		"current was given up: rolled back erigon, lighthouse to snapshots/" + set,
		"the data current left is kept read-only in snapshots/",
		"slashing protection carried forward: lighthouse/validators/slashing_protection.sqlite (Lighthouse)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("boot 3 console lacks %q:\n%s", want, out)
		}
	}
	failed := setIn(t, out, "failed")
	if o := expectStage2(t, vm); !strings.Contains(o, "homestaker.tree=/boot/previous") {
		t.Errorf("boot 3 did not fall back to /boot/previous:\n%s", o)
	}
	d.AssertDataUnchanged(before, "lighthouse/validators/slashing_protection.sqlite")
	if got := d.ReadFile("lighthouse/validators/slashing_protection.sqlite"); got != "watermarks epoch 200" {
		t.Errorf("slashing protection after the rollback: %q, want the newer watermarks", got)
	}
	d.readOnlySnapshots(t, failed, "erigon", "lighthouse")
	if got := d.ReadFile("snapshots/" + failed + "/erigon/chaindata/mdbx.dat"); !strings.Contains(got, "migrated") {
		t.Errorf("the failed- set does not hold the migrated data: %q", got)
	}
}

// homestaker.rollback=off: the fallback changes the image only, the data
// stays as the failed tree left it.
func TestSnapshotRollbackOff(t *testing.T) {
	d := snapshotDisk(t)
	args := append([]string{"homestaker.tries=1", "homestaker.rollback=off"}, volumeFaultArgs...)
	vm := Boot(t, bench.initramfs, args, Drive(d.Path))
	out := vm.Expect("[  OK  ] handover")
	setIn(t, out, "before")
	expectStage2(t, vm)
	d.migrate()
	migrated := d.DataDigest()
	vm = Boot(t, bench.initramfs, args, Drive(d.Path))
	out = vm.Expect("[  OK  ] handover")
	if !strings.Contains(out, "current was given up; homestaker.rollback=off: falling back with the image only") || strings.Contains(out, "rolled back") {
		t.Errorf("rollback=off:\n%s", out)
	}
	if o := expectStage2(t, vm); !strings.Contains(o, "homestaker.tree=/boot/previous") {
		t.Errorf("no fallback to /boot/previous:\n%s", o)
	}
	d.AssertDataUnchanged(migrated)
}

// Retention keeps homestaker.snapshot.keep sets, deleting the oldest; a
// volume more than 90% full gets a warning.
func TestSnapshotRetentionAndFullVolume(t *testing.T) {
	d := snapshotDisk(t)
	var manual []string
	d.Edit(func(top string) {
		for i := 0; i < 2; i++ {
			out, err := exec.Command(bench.cli, "snapshot", top).CombinedOutput()
			if err != nil {
				t.Fatalf("homestaker snapshot: %v\n%s", err, out)
			}
			m := regexp.MustCompile(`snapshots/(\S+-manual)`).FindStringSubmatch(string(out))
			if m == nil {
				t.Fatalf("homestaker snapshot names no set:\n%s", out)
			}
			manual = append(manual, m[1])
			if i == 0 {
				// Set names are to the second.
				exec.Command("sleep", "1.1").Run()
			}
		}
		// Fill the volume to 95%.
		var st = statfs(t, top)
		want := int64(st.Blocks)*st.Bsize*95/100 - int64(st.Blocks-st.Bavail)*st.Bsize
		if out, err := exec.Command("fallocate", "-l", strings.TrimSpace(itoa(want)), filepath.Join(top, "erigon", "fill")).CombinedOutput(); err != nil {
			t.Fatalf("fallocate: %v\n%s", err, out)
		}
	})
	args := append([]string{"homestaker.snapshot.keep=2"}, volumeFaultArgs...)
	vm := Boot(t, bench.initramfs, args, Drive(d.Path))
	out := vm.Expect("[  OK  ] handover")
	out += vm.Expect("HOMESTAKER-STAGE2 powering off")
	vm.Wait()
	if !strings.Contains(out, "deleted the snapshot set snapshots/"+manual[0]+" (homestaker.snapshot.keep=2)") || strings.Contains(out, "deleted the snapshot set snapshots/"+manual[1]) {
		t.Errorf("retention did not delete the oldest set %s only:\n%s", manual[0], out)
	}
	if !regexp.MustCompile(`\[ WARN \] snapshot: the volume is 9[0-9]% full: snapshots pin the blocks`).MatchString(out) {
		t.Errorf("no warning for a full volume:\n%s", out)
	}
	d.Edit(func(top string) {
		ents, _ := os.ReadDir(filepath.Join(top, "snapshots"))
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		if len(names) != 2 || names[0] != manual[1] || !strings.Contains(names[1], "-before-current-") {
			t.Errorf("sets left: %v, want %s and the new before- set", names, manual[1])
		}
	})
}

// An ext4 volume cannot be snapshotted: one notice says so and what a
// fallback then means, and the boot goes on.
func TestSnapshotExt4Notice(t *testing.T) {
	v := newVolume(t, 256, "mkfs.ext4", []string{"-q"}, func(top string) {
		for _, d := range []string{"secrets", "erigon", "lighthouse"} {
			if err := os.Mkdir(filepath.Join(top, d), 0o700); err != nil {
				t.Fatal(err)
			}
		}
		guideSecrets(t, top)
		seedClientData(t, top)
		installTree(t, top)
	})
	out := v.bootFromVolume()
	wantConsole(t, out,
		"[ WARN ] snapshot: the volume is ext4, not Btrfs: erigon, lighthouse cannot be snapshotted; if the new image fails and boot counting falls back, the older clients run on the data the new ones left")
	if strings.Count(out, "cannot be snapshotted") != 1 {
		t.Errorf("the notice is not given once:\n%s", out)
	}
}

func statfs(t *testing.T, p string) unix.Statfs_t {
	t.Helper()
	var st unix.Statfs_t
	if err := unix.Statfs(p, &st); err != nil {
		t.Fatal(err)
	}
	return st
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// BenchmarkSnapshot times the snapshot stage next to the init's own time
// in the same boot: once taking the set before a new tree's first boot,
// once rolling back at the fallback.
func BenchmarkSnapshot(b *testing.B) {
	for i := 0; i < b.N; i++ {
		d := snapshotDisk(b)
		args := strings.Join(append([]string{"homestaker.tries=1"}, volumeFaultArgs...), " ")
		take := bootTimeline(b, bench.initramfs, args, "init started", Drive(d.Path))
		d.migrate()
		back := bootTimeline(b, bench.initramfs, args, "init started", Drive(d.Path))
		for _, c := range []struct {
			what  string
			lines []Line
			want  string
		}{{"take", take, "read-only snapshots of erigon, lighthouse"}, {"rollback", back, "rolled back erigon, lighthouse"}} {
			if !strings.Contains(joinLines(c.lines), c.want) {
				b.Fatalf("%s: the console lacks %q", c.what, c.want)
			}
			stage, ok := stageDuration(c.lines, "snapshot")
			if !ok {
				b.Fatalf("%s: no snapshot stage line", c.what)
			}
			start, _ := milestone(c.lines, "init started")
			handover, _ := milestone(c.lines, "[  OK  ] handover")
			own := handover - start
			fmt.Printf("%s: snapshot stage %.3fs, init to the handover %.2fs: %.1f%% (target for take < 2%%)\n", c.what, stage.Seconds(), own.Seconds(), 100*stage.Seconds()/own.Seconds())
			b.ReportMetric(stage.Seconds(), c.what+"-s")
			b.ReportMetric(own.Seconds(), c.what+"-init-s")
			b.ReportMetric(100*stage.Seconds()/own.Seconds(), c.what+"-%")
		}
	}
}
