package secret

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "id_ed25519")
	for _, c := range []struct {
		data string
		mode os.FileMode
	}{{"first", 0o600}, {"second, longer", 0o644}, {"", 0o600}} {
		if err := WriteFileAtomic(p, []byte(c.data), c.mode); err != nil {
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
	if err := WriteFileAtomic(bad, []byte("x"), 0o600); err == nil {
		t.Error("write into a missing directory succeeded")
	}

	// A relative path works in the current directory.
	t.Chdir(dir)
	if err := WriteFileAtomic("rel", []byte("r"), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "rel")); string(b) != "r" {
		t.Errorf("relative write: %q", b)
	}
}
