package hostkey

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse: never panics; an accepted key is consistent and
// survives a write and a re-read. With wrap set, the input is the binary
// key body and the harness adds the PEM armour, so that the fuzzer mutates
// the OpenSSH structure itself rather than base64.
func FuzzParse(f *testing.F) {
	good, pubLine, _, err := Generate("seed")
	if err != nil {
		f.Fatal(err)
	}
	rk, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		f.Fatal(err)
	}
	seeds := [][]byte{good, opensshRSA(f), opensshECDSA(f), opensshEncryptedEd25519(f)}
	for _, s := range seeds {
		f.Add(s, false)
		f.Add(pemBodyOf(s), true)
	}
	f.Add(pemBlock("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rk)), false)
	f.Add(pubLine, false)
	f.Add([]byte{}, false)
	if _, err := exec.LookPath("ssh-keygen"); err == nil {
		p := filepath.Join(f.TempDir(), "id_ed25519")
		if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "", "-f", p).CombinedOutput(); err != nil {
			f.Fatalf("ssh-keygen: %v\n%s", err, out)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, false)
		f.Add(pemBodyOf(b), true)
	}
	f.Fuzz(func(t *testing.T, data []byte, wrap bool) {
		if wrap {
			data = pemBlock(opensshPEMType, data)
		}
		priv, pub, err := Parse(data)
		if err != nil {
			if priv != nil || pub != nil {
				t.Fatal("key returned with an error")
			}
			return
		}
		if len(priv) != ed25519.PrivateKeySize || !pub.Equal(priv.Public()) {
			t.Fatal("inconsistent key accepted")
		}
		again, err := marshalOpenSSHKey(priv, "c")
		if err != nil {
			t.Fatal(err)
		}
		priv2, _, err := Parse(again)
		if err != nil || !bytes.Equal(priv2, priv) {
			t.Fatalf("re-marshalled key: %v", err)
		}
		if err := CheckPublicKey(pub, AuthorizedKey(pub, "c")); err != nil {
			t.Fatal(err)
		}
	})
}

func pemBodyOf(data []byte) []byte {
	b, _ := pem.Decode(data)
	return b.Bytes
}

// FuzzCheckPublicKey: the .pub file beside the host key is hostile input.
// Whatever it holds, the check never panics, accepts only a file whose
// one key is the host's own, and never repeats the file's text in its
// error (a private key pasted there must not reach the console).
func FuzzCheckPublicKey(f *testing.F) {
	_, pubLine, _, err := Generate("seed")
	if err != nil {
		f.Fatal(err)
	}
	priv, _, _, _ := Generate("other")
	f.Add(pubLine)
	f.Add([]byte("# comment\n" + string(pubLine)))
	f.Add(append(append([]byte{}, pubLine...), pubLine...))
	f.Add([]byte("ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ== x\n"))
	f.Add(priv)
	f.Add([]byte("ssh-ed25519 !!!\n"))
	fields := strings.Fields(string(pubLine))
	blob, _ := base64.StdEncoding.DecodeString(fields[1])
	pub := ed25519.PublicKey(blob[len(blob)-ed25519.PublicKeySize:])
	f.Fuzz(func(t *testing.T, data []byte) {
		err := CheckPublicKey(pub, data)
		if err == nil {
			ok := false
			for _, l := range strings.Split(string(data), "\n") {
				if fs := strings.Fields(l); len(fs) >= 2 && fs[1] == fields[1] {
					ok = true
				}
			}
			if !ok {
				t.Fatalf("accepted a .pub without the host's key: %q", data)
			}
			return
		}
		msg := err.Error()
		for _, w := range strings.FieldsFunc(string(data), func(r rune) bool { return r == ' ' || r == '\n' || r == '\t' }) {
			if len(w) >= 12 && strings.Contains(msg, w) {
				t.Fatalf("the error %q repeats %q from the file", msg, w)
			}
		}
	})
}
