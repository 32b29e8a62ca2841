package atomicfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A hostile volume plants symbolic links where the init writes: as the
// reports directory (into chain data), as a parent (secrets/ssh), as the
// file itself. No write follows one.
func TestDirFollowsNoLink(t *testing.T) {
	top := t.TempDir()
	chain := filepath.Join(top, "lighthouse")
	os.MkdirAll(filepath.Join(chain, "beacon"), 0o755)
	os.MkdirAll(filepath.Join(top, "boot"), 0o755)
	os.Symlink("../lighthouse/beacon", filepath.Join(top, "boot", "reports"))
	os.MkdirAll(filepath.Join(top, "secrets"), 0o700)
	os.Symlink("/dev", filepath.Join(top, "secrets", "ssh"))

	for _, rel := range []string{"boot/reports", "secrets/ssh", "boot/reports/deeper"} {
		if d, err := OpenDir(top, rel, true, 0o755); err == nil {
			d.Close()
			t.Errorf("OpenDir(%s) followed a symbolic link", rel)
		} else if !strings.Contains(err.Error(), "symbolic link") {
			t.Errorf("OpenDir(%s): %v, want it to say a symbolic link is in the way", rel, err)
		}
	}
	if ents, _ := os.ReadDir(filepath.Join(chain, "beacon")); len(ents) != 0 {
		t.Errorf("chain data got %v", ents)
	}

	// A real directory, created as needed; a link as the file is replaced,
	// its target untouched.
	d, err := OpenDir(top, "boot/current", true, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	target := filepath.Join(chain, "db")
	os.WriteFile(target, []byte("chain data"), 0o644)
	os.Symlink(target, filepath.Join(top, "boot", "current", "boot-count"))
	if err := d.WriteFile("boot-count", []byte("1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(target); string(b) != "chain data" {
		t.Errorf("the link's target was written: %q", b)
	}
	fi, err := os.Lstat(filepath.Join(top, "boot", "current", "boot-count"))
	if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o644 {
		t.Errorf("boot-count: %v, %v", fi, err)
	}
	names, _ := d.Names()
	if len(names) != 1 {
		t.Errorf("the directory holds %v, want boot-count alone (no temporary file)", names)
	}
	if err := d.WriteFile("../escape", nil, 0o644); err == nil {
		t.Error("a name with a slash was written")
	}
}
