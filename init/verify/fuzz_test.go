package verify

import (
	"bytes"
	"errors"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"testing"

	"aead.dev/minisign"

	"github.com/homestaker/homestaker-boot/init/config"
)

func FuzzParseSums(f *testing.F) {
	a := hexOf("a")
	for _, s := range []string{
		"",
		a + "  bzImage\n" + a + " *initrd.zst\r\n\n",
		a + "  ../x\n",
		a + "  bzImage\n" + a + "  ./bzImage\n",
		`\` + a + `  a\\b`,
		"SHA256 (x) = " + a,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseSums("SHA256SUMS", data)
		if err != nil {
			var se *SumsError
			if !errors.As(err, &se) || se.Line < 1 {
				t.Fatalf("error %v is not a *SumsError with a line", err)
			}
			return
		}
		for name := range s {
			if _, err := treeName(name); err != nil || name != path.Clean(name) {
				t.Fatalf("accepted name %q: %v", name, err)
			}
		}
		// What was accepted is written back as sha256sum would and reads
		// the same, unless a name needs sha256sum's escaping.
		back, err := ParseSums("SHA256SUMS", FormatSums(s))
		if err != nil {
			for name := range s {
				if bytes.ContainsAny([]byte(name), "\\\n\r") || name[0] == ' ' {
					return
				}
			}
			t.Fatalf("FormatSums of %v does not parse: %v", s, err)
		}
		if !reflect.DeepEqual(back, s) {
			t.Fatalf("round trip: %v became %v", s, back)
		}
	})
}

// FuzzCheckSignature feeds Check arbitrary SHA256SUMS and signature bytes
// under signature policy. It must never panic, and it accepts only a
// SHA256SUMS that the trusted key signed.
func FuzzCheckSignature(f *testing.F) {
	pub, priv, err := minisign.GenerateKey(nil)
	if err != nil {
		f.Fatal(err)
	}
	keys := []TrustedKey{{ID: KeyID(pub.ID()), File: "fuzz.pub", Key: pub}}
	dir := f.TempDir()
	file := filepath.Join(dir, "bzImage")
	if err := os.WriteFile(file, []byte("kernel"), 0o644); err != nil {
		f.Fatal(err)
	}
	fh, err := os.Open(file)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { fh.Close() })
	files := map[string]*os.File{"bzImage": fh}

	good := FormatSums(Sums{"bzImage": digest("kernel")})
	signed := map[string]bool{string(good): true}
	f.Add(good, minisign.Sign(priv, good))
	f.Add(good, []byte{})
	f.Add([]byte{}, minisign.Sign(priv, []byte{}))
	_, other, _ := minisign.GenerateKey(nil)
	f.Add(good, minisign.Sign(other, good))
	f.Add(good, bytes.Replace(minisign.Sign(priv, good), []byte("timestamp"), []byte("timestamq"), 1))
	f.Fuzz(func(t *testing.T, sums, sig []byte) {
		res, err := Check(config.VerifySignature, keys, sums, sig, files)
		if err != nil {
			var r *Refusal
			if !errors.As(err, &r) {
				t.Fatalf("Check = %v; want a *Refusal", err)
			}
			return
		}
		if res.Signer != keys[0].ID || !minisign.Verify(pub, sums, sig) {
			t.Fatalf("accepted %q with signature %q (signer %q)", sums, sig, res.Signer)
		}
		if !signed[string(sums)] {
			// The fuzzer cannot forge Ed25519: an accepted SHA256SUMS
			// is one the key signed.
			t.Fatalf("accepted a SHA256SUMS the key never signed: %q", sums)
		}
	})
}
