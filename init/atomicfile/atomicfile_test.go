package atomicfile

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestWriteFile(t *testing.T) {
	for name, write := range map[string]func(string, []byte, os.FileMode) error{"WriteFile": WriteFile, "Replace": Replace} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "id_ed25519")
			for _, c := range []struct {
				data string
				mode os.FileMode
			}{{"first", 0o600}, {"second, longer", 0o644}, {"", 0o600}} {
				if err := write(p, []byte(c.data), c.mode); err != nil {
					t.Fatal(err)
				}
				got, err := os.ReadFile(p)
				if err != nil || string(got) != c.data {
					t.Fatalf("content %q, %v; want %q", got, err, c.data)
				}
				st, _ := os.Stat(p)
				if st.Mode().Perm() != c.mode {
					t.Errorf("mode %v, want %v", st.Mode().Perm(), c.mode)
				}
			}
			ents, _ := os.ReadDir(dir)
			if len(ents) != 1 {
				t.Errorf("directory holds %d entries, want only the file (no temporary left)", len(ents))
			}

			// A missing directory fails cleanly, naming the path.
			bad := filepath.Join(dir, "nodir", "k")
			if err := write(bad, []byte("x"), 0o600); err == nil || !strings.Contains(err.Error(), bad) {
				t.Errorf("write into a missing directory: %v, want an error naming %s", err, bad)
			}

			// A relative path works in the current directory.
			t.Chdir(dir)
			if err := write("rel", []byte("r"), 0o600); err != nil {
				t.Fatal(err)
			}
			if b, _ := os.ReadFile(filepath.Join(dir, "rel")); string(b) != "r" {
				t.Errorf("relative write: %q", b)
			}
		})
	}
}

// A write that fails half way (here at the file size limit, as it would on
// a full disk) leaves the old file whole and no temporary beside it.
func TestFailedWriteKeepsOldFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "jwt.hex")
	old := "the old content\n"
	if err := os.WriteFile(p, []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
		t.Fatal(err)
	}
	small := lim
	small.Cur = 4096
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &small); err != nil {
		t.Skipf("cannot lower the file size limit: %v", err)
	}
	err := WriteFile(p, make([]byte, 1<<20), 0o600)
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
		t.Fatal(err)
	}
	if err == nil {
		t.Fatal("a write past the file size limit succeeded")
	}
	if !strings.Contains(err.Error(), filepath.Join(dir, ".jwt.hex.tmp")) {
		t.Errorf("error %q does not name the file written", err)
	}
	if b, err := os.ReadFile(p); err != nil || string(b) != old {
		t.Errorf("after the failed write: %q, %v; want the old %q", b, err, old)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("directory holds %d entries, want only the old file", len(ents))
	}
}

// A rename that fails (path is a directory) removes the temporary file.
func TestFailedRenameLeavesNoTemporary(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "report.json")
	if err := os.MkdirAll(filepath.Join(p, "inside"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := Replace(p, []byte("{}\n"), 0o644); err == nil || !strings.Contains(err.Error(), "renaming") {
		t.Fatalf("rename over a directory: %v, want a renaming error", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("directory holds %d entries, want only the directory", len(ents))
	}
}

// Over a symlink (as systemd-resolved systems have /etc/resolv.conf) the
// link itself is replaced, not the file it points to.
func TestReplaceSymlink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "elsewhere")
	if err := os.WriteFile(target, []byte("theirs\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.conf")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if err := Replace(link, []byte("x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("after writing over a symlink: %v, %v", fi.Mode(), err)
	}
	if b, _ := os.ReadFile(target); string(b) != "theirs\n" {
		t.Errorf("the link's target changed: %q", b)
	}
}
