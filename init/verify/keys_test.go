package verify

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"aead.dev/minisign"
)

func TestKeyID(t *testing.T) {
	for id, want := range map[uint64]string{0: "0000000000000000", 0x1a2b: "0000000000001A2B", 0xfedcba9876543210: "FEDCBA9876543210"} {
		if got := KeyID(id); got != want {
			t.Errorf("KeyID(%#x) = %q, want %q", id, got, want)
		}
	}
}

func TestLoadTrustedKeys(t *testing.T) {
	dir := t.TempDir()
	pub, _, err := minisign.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	text, _ := pub.MarshalText()
	crlf := strings.ReplaceAll(string(text)+"\n", "\n", "\r\n")
	for name, content := range map[string]string{
		"a-release.pub": string(text) + "\n",
		"b-crlf.pub":    crlf,
		"c-bad.pub":     "untrusted comment: minisign public key\nnot base64!\n",
		"d-secret.key":  "untrusted comment: minisign encrypted secret key\n" + strings.Repeat("A", 212) + "\n",
		"e-empty":       "",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "f-dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	keys, errs := LoadTrustedKeys(dir)
	if len(keys) != 2 {
		t.Fatalf("loaded %d keys, want 2: %+v (errors %v)", len(keys), keys, errs)
	}
	for i, file := range []string{"a-release.pub", "b-crlf.pub"} {
		k := keys[i]
		if k.File != filepath.Join(dir, file) || !k.Key.Equal(pub) || !regexp.MustCompile(`^[0-9A-F]{16}$`).MatchString(k.ID) || k.ID != KeyID(pub.ID()) {
			t.Errorf("key %d = %+v; want %s with id %s", i, k, file, KeyID(pub.ID()))
		}
	}
	// minisign names the key in the comment of its .pub file.
	if !strings.Contains(string(text), strings.TrimLeft(keys[0].ID, "0")) {
		t.Errorf("id %s is not the one in %q", keys[0].ID, text)
	}
	if len(errs) != 4 {
		t.Fatalf("errors %v; want one for each of c-bad.pub, d-secret.key, e-empty, f-dir", errs)
	}
	for i, file := range []string{"c-bad.pub", "d-secret.key", "e-empty", "f-dir"} {
		if !strings.HasPrefix(errs[i].Error(), filepath.Join(dir, file)+": ") {
			t.Errorf("error %d = %q; want it to name %s", i, errs[i], file)
		}
	}
}

func TestLoadTrustedKeysMissingDir(t *testing.T) {
	keys, errs := LoadTrustedKeys(filepath.Join(t.TempDir(), "trusted.d"))
	if keys != nil || errs != nil {
		t.Errorf("LoadTrustedKeys(missing) = %v, %v; want no keys and no error", keys, errs)
	}
}
