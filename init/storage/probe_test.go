package storage

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// mkfsImage makes a sparse image of size MiB formatted by the mkfs tool.
func mkfsImage(t *testing.T, size int64, tool string, args ...string) string {
	t.Helper()
	bin, err := exec.LookPath(tool)
	if err != nil {
		bin = "/usr/sbin/" + tool
		if _, err := os.Stat(bin); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	p := filepath.Join(t.TempDir(), "disk.img")
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(p, size<<20); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, append(args, p)...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", tool, err, out)
	}
	return p
}

// Each type's superblock is read from a disk its own mkfs made, and a disk
// with two signatures is refused naming both.
func TestProbe(t *testing.T) {
	for _, c := range []struct {
		typ, tool string
		size      int64
		args      []string
	}{
		{FSBtrfs, "mkfs.btrfs", 128, []string{"-q", "-L", "homestaker"}},
		{FSExt4, "mkfs.ext4", 64, []string{"-q", "-L", "homestaker"}},
		{FSXFS, "mkfs.xfs", 320, []string{"-q", "-L", "homestaker"}},
	} {
		t.Run(c.typ, func(t *testing.T) {
			d, err := probe(mkfsImage(t, c.size, c.tool, c.args...))
			if err != nil {
				t.Fatal(err)
			}
			if d.Type != c.typ || d.Label != "homestaker" || len(d.UUID) != 36 || d.NumDevices != 1 || d.DevID != 1 {
				t.Errorf("got %+v", d)
			}
		})
	}
	t.Run("nothing", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "zero")
		os.WriteFile(p, make([]byte, 1<<20), 0o644)
		if _, err := probe(p); err != errNoFilesystem {
			t.Errorf("got %v", err)
		}
	})
	t.Run("two signatures", func(t *testing.T) {
		// An ext4 superblock at 1 KiB on a Btrfs disk (mkfs.btrfs
		// leaves the first 64 KiB for boot loaders alone in places).
		b := mkfsImage(t, 128, "mkfs.btrfs", "-q", "-L", "homestaker")
		e := mkfsImage(t, 64, "mkfs.ext4", "-q", "-L", "old")
		eb, _ := os.ReadFile(e)
		f, err := os.OpenFile(b, os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteAt(eb[1024:2048], 1024)
		f.Close()
		_, err = probe(b)
		if err == nil || !strings.Contains(err.Error(), `btrfs (label "homestaker") and ext4 (label "old")`) || !strings.Contains(err.Error(), "wipefs") {
			t.Errorf("got %v", err)
		}
	})
}

func TestKindOf(t *testing.T) {
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "erigon"), 0o755)
	os.WriteFile(filepath.Join(dir, "file"), nil, 0o644)
	os.Symlink("/etc", filepath.Join(dir, "link"))
	if k, err := KindOf(filepath.Join(dir, "erigon")); err != nil || k != KindDirectory {
		t.Errorf("directory: %v, %v", k, err)
	}
	for name, want := range map[string]string{"file": "is a file", "link": "symbolic link", "none": `no subvolume or directory "none" on the volume`} {
		if _, err := KindOf(filepath.Join(dir, name)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", name, err, want)
		}
	}
}

func TestLayout(t *testing.T) {
	sub := func(n string) Name { return Name{Name: n, Kind: KindSubvolume} }
	dir := func(n string) Name { return Name{Name: n, Kind: KindDirectory} }
	for want, ns := range map[string][]Name{
		"subvolumes":  {sub("secrets"), sub("erigon")},
		"directories": {dir("secrets"), dir("erigon")},
		"subvolume erigon, directories secrets lighthouse": {dir("secrets"), sub("erigon"), dir("lighthouse")},
		"subvolumes secrets erigon, directory lighthouse":  {sub("secrets"), sub("erigon"), dir("lighthouse")},
	} {
		if got := DescribeLayout(ns); got != want {
			t.Errorf("layout = %q, want %q", got, want)
		}
	}
}

func TestSecretsModeWarning(t *testing.T) {
	for mode, warn := range map[os.FileMode]bool{0o700: false, 0o750: false, 0o770: false, 0o755: true, 0o701: true, 0o704: true} {
		w := SecretsModeWarning("/mnt/secrets", mode|os.ModeDir)
		if (w != "") != warn {
			t.Errorf("mode %04o: warning %q", mode, w)
		}
		if warn && !strings.Contains(w, "chmod 700 /mnt/secrets") {
			t.Errorf("mode %04o: no fix in %q", mode, w)
		}
	}
}
