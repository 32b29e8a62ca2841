package volfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The volume's files as an attacker would leave them: a FIFO, a symbolic
// link to /dev/zero and one out of the volume, a device node, a directory,
// a 10 GiB sparse file. Each is an error naming the file and what it is,
// at once: nothing blocks, nothing is read into memory.
func TestHostileFiles(t *testing.T) {
	top := t.TempDir()
	outside := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(outside, []byte("outside"), 0o600)
	write := func(name, s string) {
		if err := os.WriteFile(filepath.Join(top, name), []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("jwt.hex", strings.Repeat("ab", 32)+"\n")
	if err := syscall.Mkfifo(filepath.Join(top, "fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	os.Symlink("/dev/zero", filepath.Join(top, "zero"))
	os.Symlink(outside, filepath.Join(top, "out"))
	os.Symlink("../../..", filepath.Join(top, "up"))
	os.Symlink("jwt.hex", filepath.Join(top, "inside"))
	os.Mkdir(filepath.Join(top, "dir"), 0o700)
	big, err := os.Create(filepath.Join(top, "big"))
	if err != nil {
		t.Fatal(err)
	}
	if err := big.Truncate(10 << 30); err != nil {
		t.Fatal(err)
	}
	big.Close()
	if os.Getuid() == 0 {
		if err := syscall.Mknod(filepath.Join(top, "null"), syscall.S_IFCHR|0o600, int(uint64(1)<<8|3)); err != nil {
			t.Fatal(err)
		}
	}
	root, err := os.OpenRoot(top)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()

	if b, err := ReadFile(root, "jwt.hex", "/mnt/secrets/jwt.hex", 1024); err != nil || len(b) != 65 {
		t.Errorf("a regular file: %q, %v", b, err)
	}
	if b, err := ReadFile(root, "inside", "inside", 1024); err != nil || len(b) != 65 {
		t.Errorf("a link inside the volume: %q, %v", b, err)
	}
	for _, tc := range []struct{ name, want string }{
		{"fifo", "is a FIFO, not a regular file"},
		{"zero", "symbolic link out of the volume"},
		{"out", "symbolic link out of the volume"},
		{"up/etc/passwd", "symbolic link out of the volume"},
		{"dir", "is a directory"},
		{"big", "is 10737418240 bytes, more than the 1024"},
		{"null", "is a character device"},
	} {
		if tc.name == "null" && os.Getuid() != 0 {
			continue
		}
		done := make(chan error, 1)
		go func() {
			_, err := ReadFile(root, tc.name, "/mnt/secrets/"+tc.name, 1024)
			done <- err
		}()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "/mnt/secrets/"+tc.name) {
				t.Errorf("%s: %v, want an error naming it and %q", tc.name, err, tc.want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: ReadFile blocked", tc.name)
		}
	}
	if _, err := ReadFile(root, "missing", "missing", 1); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a missing file: %v, want fs.ErrNotExist", err)
	}
}
