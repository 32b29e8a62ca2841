package verify

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/homestaker/homestaker-boot/init/config"
)

// minisignCLI runs the minisign binary in dir, or skips the test when it
// is not installed (Debian: apt-get install minisign).
func minisignCLI(t *testing.T, dir string, args ...string) string {
	t.Helper()
	bin, err := exec.LookPath("minisign")
	if err != nil {
		t.Skip("minisign not installed")
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("minisign %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestMinisignInterop: trees signed by the minisign tool check, and the
// key and signature files this package's library writes are minisign's.
func TestMinisignInterop(t *testing.T) {
	t.Run("signed by minisign -S", func(t *testing.T) {
		tr := newTree(t)
		keys := t.TempDir()
		minisignCLI(t, keys, "-G", "-W", "-p", "release.pub", "-s", "release.key")
		if err := os.WriteFile(filepath.Join(tr.dir, SumsFile), tr.sums, 0o644); err != nil {
			t.Fatal(err)
		}
		minisignCLI(t, tr.dir, "-S", "-s", filepath.Join(keys, "release.key"), "-m", SumsFile)
		sig, err := os.ReadFile(filepath.Join(tr.dir, SigFile))
		if err != nil {
			t.Fatal(err)
		}
		os.Remove(filepath.Join(keys, "release.key"))
		trusted, errs := LoadTrustedKeys(keys)
		if len(trusted) != 1 || errs != nil {
			t.Fatalf("LoadTrustedKeys of minisign -G's public key: %v, %v", trusted, errs)
		}
		pub, _ := os.ReadFile(filepath.Join(keys, "release.pub"))
		if !strings.Contains(string(pub), "minisign public key "+trusted[0].ID+"\n") {
			t.Errorf("key id %s is not the one minisign wrote in %q", trusted[0].ID, pub)
		}
		res, err := Check(config.VerifySignature, trusted, tr.sums, sig, tr.files)
		if err != nil || res.Signer != trusted[0].ID {
			t.Fatalf("Check of a minisign -S signature = %+v, %v", res, err)
		}
		tr.tamper(t, "kexec-boot")
		if _, err := Check(config.VerifySignature, trusted, tr.sums, sig, tr.files); err == nil || err.Error() != "kexec-boot: sha256 mismatch" {
			t.Errorf("Check after tampering = %v; want kexec-boot: sha256 mismatch", err)
		}
	})
	t.Run("our key and signature in minisign -V", func(t *testing.T) {
		dir := t.TempDir()
		s := newSigner(t)
		pub, _ := s.trusted.Key.MarshalText()
		if err := os.WriteFile(filepath.Join(dir, "homestaker.pub"), append(pub, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		sums := FormatSums(Sums{"bzImage": digest("k")})
		if err := os.WriteFile(filepath.Join(dir, SumsFile), sums, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name string
			sig  []byte
			args []string
		}{
			{"prehashed", s.sign(sums), []string{"-H"}},
			{"legacy", s.signLegacy(sums), nil},
		} {
			if err := os.WriteFile(filepath.Join(dir, SigFile), tc.sig, 0o644); err != nil {
				t.Fatal(err)
			}
			out := minisignCLI(t, dir, append([]string{"-V", "-p", "homestaker.pub", "-m", SumsFile}, tc.args...)...)
			if !strings.Contains(out, "Signature and comment signature verified") {
				t.Errorf("%s: minisign -V said %q", tc.name, out)
			}
		}
	})
	t.Run("our secret key file in minisign -S", func(t *testing.T) {
		dir := t.TempDir()
		s := newSigner(t)
		sec, _ := s.priv.MarshalText()
		if err := os.WriteFile(filepath.Join(dir, "homestaker.key"), append(sec, '\n'), 0o600); err != nil {
			t.Fatal(err)
		}
		sums := FormatSums(Sums{"bzImage": digest("k")})
		if err := os.WriteFile(filepath.Join(dir, SumsFile), sums, 0o644); err != nil {
			t.Fatal(err)
		}
		minisignCLI(t, dir, "-S", "-W", "-s", "homestaker.key", "-m", SumsFile)
		sig, _ := os.ReadFile(filepath.Join(dir, SigFile))
		if _, err := checkSignature([]TrustedKey{s.trusted}, sums, sig, "test"); err != nil {
			t.Errorf("minisign -S with our secret key file: %v", err)
		}
	})
}
