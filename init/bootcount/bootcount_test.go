package bootcount

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/homestaker/homestaker-boot/init/atomicfile"
)

// read and increment are Read and Increment on a tree directory.
func read(dir string) (State, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return State{}, err
	}
	defer root.Close()
	return Read(root, ".", dir)
}

func increment(dir string) (int, error) {
	s, err := read(dir)
	if err != nil {
		return 0, err
	}
	d, err := atomicfile.OpenDir(dir, ".", false, 0)
	if err != nil {
		return 0, err
	}
	defer d.Close()
	return Increment(d, s)
}

func TestCountsUpToTries(t *testing.T) {
	dir := t.TempDir()
	s, err := read(dir)
	if err != nil || s.Count != 0 || s.OK {
		t.Fatalf("fresh tree: %+v, %v; want count 0, not OK", s, err)
	}
	for want := 1; want <= 3; want++ {
		if s.Exhausted(3) {
			t.Fatalf("exhausted after %d boots of 3", s.Count)
		}
		n, err := increment(dir)
		if err != nil || n != want {
			t.Fatalf("Increment = %d, %v; want %d", n, err, want)
		}
		if s, err = read(dir); err != nil || s.Count != want {
			t.Fatalf("Read after %d increments: %+v, %v", want, s, err)
		}
	}
	if !s.Exhausted(3) {
		t.Errorf("%+v not exhausted with tries=3", s)
	}
	if !strings.Contains(s.Why(3), "3 times without a success mark (booted-ok; homestaker.tries=3)") {
		t.Errorf("Why = %q", s.Why(3))
	}
	// No temporary file is left beside the count.
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("files left in the tree: %v", ents)
	}
}

func TestSuccessMarkWins(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, CountFile), []byte("7\n"), 0o644)
	os.WriteFile(filepath.Join(dir, SuccessFile), nil, 0o644)
	s, err := read(dir)
	if err != nil || !s.OK || s.Count != 7 {
		t.Fatalf("Read = %+v, %v", s, err)
	}
	if s.Exhausted(3) {
		t.Error("a tree marked good is never exhausted")
	}
}

func TestDamagedCountIsAnError(t *testing.T) {
	dir := t.TempDir()
	for _, bad := range []string{"three\n", "-1", ""} {
		os.WriteFile(filepath.Join(dir, CountFile), []byte(bad), 0o644)
		_, err := read(dir)
		if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, CountFile)) || !strings.Contains(err.Error(), "delete it") {
			t.Errorf("count %q: err = %v, want one naming the file and the fix", bad, err)
		}
		if _, err := increment(dir); err == nil {
			t.Errorf("count %q: Increment overwrote a damaged counter", bad)
		}
	}
}

func TestReset(t *testing.T) {
	dir := t.TempDir()
	increment(dir)
	os.WriteFile(filepath.Join(dir, SuccessFile), nil, 0o644)
	if err := Reset(dir); err != nil {
		t.Fatal(err)
	}
	if s, err := read(dir); err != nil || s.Count != 0 || s.OK {
		t.Errorf("after Reset: %+v, %v", s, err)
	}
	if err := Reset(dir); err != nil {
		t.Errorf("Reset of a fresh tree: %v", err)
	}
}
