package hostkey

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestGenerateParseRoundTrip(t *testing.T) {
	privPEM, pubLine, fp, err := Generate("root@homestaker")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(privPEM, []byte("-----BEGIN OPENSSH PRIVATE KEY-----\n")) {
		t.Errorf("private key file starts %q", privPEM[:40])
	}
	if !bytes.HasPrefix(pubLine, []byte("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI")) || !bytes.HasSuffix(pubLine, []byte(" root@homestaker\n")) {
		t.Errorf("pub line = %q", pubLine)
	}
	if !strings.HasPrefix(fp, "SHA256:") || len(fp) != len("SHA256:")+43 {
		t.Errorf("fingerprint = %q", fp)
	}
	priv, pub, err := Parse(privPEM)
	if err != nil {
		t.Fatal(err)
	}
	if !pub.Equal(priv.Public()) || Fingerprint(pub) != fp {
		t.Error("parsed key differs from the generated one")
	}
	if err := CheckPublicKey(pub, pubLine); err != nil {
		t.Errorf("CheckPublicKey(own .pub): %v", err)
	}
	if !bytes.Equal(AuthorizedKey(pub, "root@homestaker"), pubLine) {
		t.Error("AuthorizedKey differs from the generated .pub line")
	}
	// The key works.
	msg := []byte("homestaker")
	if !ed25519.Verify(pub, msg, ed25519.Sign(priv, msg)) {
		t.Error("signature does not verify")
	}
	if _, _, _, err := Generate("a\nb"); err == nil {
		t.Error("comment with a newline accepted")
	}
	// No comment: the .pub line has two fields.
	_, pubLine, _, err = Generate("")
	if err != nil || bytes.Count(pubLine, []byte(" ")) != 1 {
		t.Errorf("pub line without comment = %q, %v", pubLine, err)
	}
}

// Fingerprint agrees with a known vector: the RFC 8032 test key 1 as
// `ssh-keygen -l` prints it.
func TestFingerprintVector(t *testing.T) {
	pub, _ := base64.StdEncoding.DecodeString("11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=")
	line := AuthorizedKey(pub, "")
	if want := "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINdamAGCsQq31Uv+08lkBzoO4XLz2qYjJa8CGmj3B1Ea\n"; string(line) != want {
		t.Errorf("AuthorizedKey = %q, want %q", line, want)
	}
	if _, err := exec.LookPath("ssh-keygen"); err == nil {
		f := filepath.Join(t.TempDir(), "k.pub")
		os.WriteFile(f, line, 0o644)
		out, err := exec.Command("ssh-keygen", "-l", "-E", "sha256", "-f", f).Output()
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Fields(string(out))[1]; got != Fingerprint(pub) {
			t.Errorf("Fingerprint = %s, ssh-keygen says %s", Fingerprint(pub), got)
		}
	}
}

// Hand-built OpenSSH containers for the key types the parser must name,
// so that the tests need neither x/crypto/ssh nor ssh-keygen.

func sshString(b []byte, s []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

func mpint(b []byte, n *big.Int) []byte {
	v := n.Bytes()
	if len(v) > 0 && v[0]&0x80 != 0 {
		v = append([]byte{0}, v...)
	}
	return sshString(b, v)
}

// container lays out an OpenSSH key file: pubBlob and the private fields
// after the check words (the key type and the key), padded.
func container(cipher, kdf string, kdfOpts, pubBlob, privFields []byte, blockSize int) []byte {
	priv := []byte{1, 2, 3, 4, 1, 2, 3, 4}
	priv = append(priv, privFields...)
	priv = sshString(priv, []byte("test comment"))
	for i := byte(1); len(priv)%blockSize != 0; i++ {
		priv = append(priv, i)
	}
	if cipher != "none" {
		rand.Read(priv) // what a wrong passphrase would see
	}
	b := []byte(opensshMagic)
	b = sshString(b, []byte(cipher))
	b = sshString(b, []byte(kdf))
	b = sshString(b, kdfOpts)
	b = binary.BigEndian.AppendUint32(b, 1)
	b = sshString(b, pubBlob)
	b = sshString(b, priv)
	return pem.EncodeToMemory(&pem.Block{Type: opensshPEMType, Bytes: b})
}

func rsaKey(t testing.TB) *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func opensshRSA(t testing.TB) []byte {
	k := rsaKey(t)
	e := big.NewInt(int64(k.E))
	pub := mpint(mpint(sshString(nil, []byte("ssh-rsa")), e), k.N)
	priv := sshString(nil, []byte("ssh-rsa"))
	for _, n := range []*big.Int{k.N, e, k.D, k.Precomputed.Qinv, k.Primes[0], k.Primes[1]} {
		priv = mpint(priv, n)
	}
	return container("none", "none", nil, pub, priv, 8)
}

func opensshECDSA(t testing.TB) []byte {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ek, err := k.ECDH()
	if err != nil {
		t.Fatal(err)
	}
	q := ek.PublicKey().Bytes()
	typ := []byte("ecdsa-sha2-nistp256")
	pub := sshString(sshString(sshString(nil, typ), []byte("nistp256")), q)
	priv := mpint(sshString(sshString(sshString(nil, typ), []byte("nistp256")), q), k.D)
	return container("none", "none", nil, pub, priv, 8)
}

func opensshEncryptedEd25519(t testing.TB) []byte {
	pub, key, _ := ed25519.GenerateKey(rand.Reader)
	opts := binary.BigEndian.AppendUint32(sshString(nil, make([]byte, 16)), 16)
	priv := sshString(sshString(sshString(nil, []byte(keyTypeEd25519)), pub), key)
	return container("aes256-ctr", "bcrypt", opts, publicBlob(pub), priv, 16)
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func TestParseRefusals(t *testing.T) {
	rk := rsaKey(t)
	ek, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalECPrivateKey(ek)
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	pkcs8Ed, _ := x509.MarshalPKCS8PrivateKey(edKey)
	pkcs8RSA, _ := x509.MarshalPKCS8PrivateKey(rk)
	good, goodPub, _, _ := Generate("x")

	for _, c := range []struct {
		name string
		data []byte
		want []string
	}{
		{"OpenSSH RSA", opensshRSA(t), []string{"type ssh-rsa", "must be ssh-ed25519"}},
		{"OpenSSH ECDSA", opensshECDSA(t), []string{"type ecdsa-sha2-nistp256"}},
		{"encrypted", opensshEncryptedEd25519(t), []string{"encrypted with aes256-ctr: the init cannot ask for a passphrase", "ssh-ed25519"}},
		{"PEM RSA", pemBlock("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rk)), []string{"RSA PRIVATE KEY (PEM)"}},
		{"PEM EC", pemBlock("EC PRIVATE KEY", ecDER), []string{"EC PRIVATE KEY (PEM)"}},
		{"PKCS#8 Ed25519", pemBlock("PRIVATE KEY", pkcs8Ed), []string{"Ed25519 key in PKCS#8", "ssh-keygen -p"}},
		{"PKCS#8 RSA", pemBlock("PRIVATE KEY", pkcs8RSA), []string{"an RSA key in PKCS#8"}},
		{"public key", goodPub, []string{"holds a public key"}},
		{"empty", nil, []string{"is empty"}},
		{"garbage", []byte("hello\n"), []string{"not a PEM-encoded private key"}},
		{"certificate", pemBlock("CERTIFICATE", []byte{1, 2, 3}), []string{`type "CERTIFICATE"`}},
		{"truncated", pemBlock(opensshPEMType, pemBody(t, good)[:100]), []string{"malformed"}},
		{"no magic", pemBlock(opensshPEMType, []byte("openssh-key-v2\x00")), []string{"malformed"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := Parse(c.data)
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("err = %q\nwant it to contain %q", err, w)
				}
			}
			assertNoKeyMaterial(t, err.Error(), c.data)
		})
	}
}

func pemBody(t *testing.T, data []byte) []byte {
	b, _ := pem.Decode(data)
	if b == nil {
		t.Fatal("no PEM block")
	}
	return b.Bytes
}

// assertNoKeyMaterial fails when msg quotes 8 characters of the base64 body
// of a PEM file.
func assertNoKeyMaterial(t *testing.T, msg string, data []byte) {
	t.Helper()
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "-----") || len(line) < 8 {
			continue
		}
		for i := 0; i+8 <= len(line); i += 4 {
			if strings.Contains(msg, line[i:i+8]) {
				t.Fatalf("error %q quotes key material %q", msg, line[i:i+8])
			}
		}
	}
}

// Damage inside an otherwise well-formed key is caught, not accepted.
func TestParseDamage(t *testing.T) {
	good, _, _, _ := Generate("x")
	body := pemBody(t, good)
	comment := bytes.LastIndex(body, []byte("\x00\x00\x00\x01x")) + 4
	if comment < 4 {
		t.Fatal("comment not found")
	}
	for i := 0; i < len(body); i++ {
		if i == comment { // the comment is free text
			continue
		}
		b := bytes.Clone(body)
		b[i] ^= 0x01
		if _, _, err := Parse(pemBlock(opensshPEMType, b)); err == nil {
			t.Errorf("flipped byte %d accepted", i)
		}
	}
}

func TestCheckPublicKey(t *testing.T) {
	priv, pubLine, _, _ := Generate("host")
	_, pub, err := Parse(priv)
	if err != nil {
		t.Fatal(err)
	}
	_, otherLine, _, _ := Generate("other")
	rsaLine := "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 host\n"
	for _, c := range []struct {
		name string
		data string
		want string // "" = matches
	}{
		{"same", string(pubLine), ""},
		{"no comment, CRLF", strings.TrimSuffix(strings.Join(strings.Fields(string(pubLine))[:2], " "), "\n") + "\r\n", ""},
		{"comment line before", "# host key\n" + string(pubLine), ""},
		{"other key", string(otherLine), "does not match the private key"},
		{"rsa", rsaLine, "holds a key of type ssh-rsa"},
		{"empty", "\n", "is empty"},
		{"one field", "ssh-ed25519\n", "not in authorized_keys format"},
		{"bad base64", "ssh-ed25519 !!!!\n", "malformed base64"},
		{"blob of another type", "ssh-ed25519 AAAAB3NzaC1yc2EAAAADAQABAAABAQC7\n", "malformed ssh-ed25519 key"},
		{"two keys", string(pubLine) + string(otherLine), "more than one line"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := CheckPublicKey(pub, []byte(c.data))
			if c.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
		})
	}
}

// Keys made by OpenSSH itself, and our keys read by OpenSSH.
func TestSSHKeygen(t *testing.T) {
	if _, err := exec.LookPath("ssh-keygen"); err != nil {
		t.Skip("ssh-keygen not installed")
	}
	dir := t.TempDir()
	keygen := func(t *testing.T, name string, args ...string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		cmd := exec.Command("ssh-keygen", append([]string{"-q", "-C", "test@host", "-f", p}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", cmd.Args, err, out)
		}
		return p
	}
	read := func(t *testing.T, p string) []byte {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}

	t.Run("ed25519", func(t *testing.T) {
		p := keygen(t, "ed", "-t", "ed25519", "-N", "")
		_, pub, err := Parse(read(t, p))
		if err != nil {
			t.Fatal(err)
		}
		if err := CheckPublicKey(pub, read(t, p+".pub")); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("ssh-keygen", "-l", "-E", "sha256", "-f", p+".pub").Output()
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Fields(string(out))[1]; got != Fingerprint(pub) {
			t.Errorf("Fingerprint = %s, ssh-keygen says %s", Fingerprint(pub), got)
		}
	})
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"rsa", []string{"-t", "rsa", "-b", "1024", "-N", ""}, "type ssh-rsa"},
		{"ecdsa", []string{"-t", "ecdsa", "-N", ""}, "type ecdsa-sha2-nistp256"},
		{"encrypted ed25519", []string{"-t", "ed25519", "-N", "passphrase", "-a", "1"}, "encrypted with aes256-ctr"},
		{"PEM rsa", []string{"-t", "rsa", "-b", "1024", "-m", "PEM", "-N", ""}, "RSA PRIVATE KEY (PEM)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := keygen(t, strings.ReplaceAll(c.name, " ", "-"), c.args...)
			data := read(t, p)
			_, _, err := Parse(data)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
			assertNoKeyMaterial(t, err.Error(), data)
		})
	}
	t.Run("ours read by ssh-keygen", func(t *testing.T) {
		privPEM, pubLine, fp, err := Generate("root@homestaker")
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, "ours")
		if err := os.WriteFile(p, privPEM, 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("ssh-keygen", "-y", "-f", p).Output()
		if err != nil {
			t.Fatalf("ssh-keygen -y: %v", err)
		}
		if got, want := strings.Fields(string(out))[:2], strings.Fields(string(pubLine))[:2]; got[0] != want[0] || got[1] != want[1] {
			t.Errorf("ssh-keygen -y = %q, want %q", out, pubLine)
		}
		out, err = exec.Command("ssh-keygen", "-l", "-E", "sha256", "-f", p).Output()
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Fields(string(out))[1]; got != fp {
			t.Errorf("fingerprint %s, ssh-keygen says %s", fp, got)
		}
	})
}
