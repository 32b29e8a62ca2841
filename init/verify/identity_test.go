package verify

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
)

func TestTreeIdentity(t *testing.T) {
	sums := []byte("abc  vmlinuz\n")
	h := sha256.Sum256(sums)
	if id, err := TreeIdentity(sums, nil); err != nil || id != hex.EncodeToString(h[:]) {
		t.Errorf("with SHA256SUMS: %s, %v", id, err)
	}
	dir := t.TempDir()
	open := func(name, content string) *os.File {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(content), 0o644)
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	files := map[string]*os.File{"kexec-boot": open("kexec-boot", "script"), "vmlinuz": open("vmlinuz", "kernel")}
	a, err := TreeIdentity(nil, files)
	if err != nil || len(a) != 64 {
		t.Fatalf("without SHA256SUMS: %q, %v", a, err)
	}
	if b, _ := TreeIdentity(nil, files); b != a {
		t.Error("identity not stable")
	}
	files["vmlinuz"] = open("vmlinuz2", "other kernel")
	if b, _ := TreeIdentity(nil, files); b == a {
		t.Error("another kernel, same identity")
	}
	if off, _ := files["vmlinuz"].Seek(0, 1); off != 0 {
		t.Error("hashing moved the file's offset")
	}
}
