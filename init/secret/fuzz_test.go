package secret

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// gethAccepts models geth and erigon: strings.TrimSpace, common.FromHex
// (strips 0x or 0X, pads an odd length with a 0, keeps what decodes before
// a bad digit), then exactly 32 bytes.
func gethAccepts(data []byte) bool {
	s := strings.TrimSpace(string(data))
	if len(s) >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') {
		s = s[2:]
	}
	if len(s)%2 == 1 {
		s = "0" + s
	}
	h, _ := hex.DecodeString(s)
	return len(h) == 32
}

// lighthouseAccepts models lighthouse: read_to_string (UTF-8 only),
// trim_end, strip_prefix("0x"), hex::decode, then 32 bytes.
func lighthouseAccepts(data []byte) bool {
	if !utf8.Valid(data) {
		return false
	}
	s := strings.TrimRightFunc(string(data), unicode.IsSpace)
	s = strings.TrimPrefix(s, "0x")
	h, err := hex.DecodeString(s)
	return err == nil && len(h) == 32
}

// FuzzParseJWT: never panics; every error is a *JWTError that quotes no
// run of the input's hex digits; ParseJWT accepts exactly what both geth
// and lighthouse accept, minus the all-zero key and trailing whitespace
// other than space, tab, CR and LF; and an accepted key re-encodes to a
// file that parses to the same key.
func FuzzParseJWT(f *testing.F) {
	for _, s := range []string{
		testHex, testHex + "\n", "0x" + testHex + "\r\n", strings.ToUpper(testHex) + " \t",
		" " + testHex, "0X" + testHex, testHex[:63], testHex + "0", strings.Repeat("0", 64),
		testHex + "\v", testHex + "\u00a0", testHex + "\n" + testHex, "", "\n",
	} {
		f.Add([]byte(s))
	}
	if _, err := exec.LookPath("openssl"); err == nil {
		p := filepath.Join(f.TempDir(), "jwt.hex")
		if out, err := exec.Command("openssl", "rand", "-hex", "-out", p, "32").CombinedOutput(); err != nil {
			f.Fatalf("openssl rand: %v\n%s", err, out)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		j, err := ParseJWT(data)
		if err != nil {
			var je *JWTError
			if !errors.As(err, &je) || je.Msg == "" {
				t.Fatalf("err = %v (%T), want a *JWTError with a message", err, err)
			}
			if j != (JWT{}) {
				t.Fatal("key returned with an error")
			}
			if leak := leakedRun(string(data), err.Error()); leak != "" {
				t.Fatalf("err = %q quotes %q", err, leak)
			}
		} else {
			if j == (JWT{}) {
				t.Fatal("all-zero key accepted")
			}
			back, err := ParseJWT(j.Encode())
			if err != nil || !back.Equal(j) {
				t.Fatalf("Encode does not round-trip: %v", err)
			}
		}

		both := gethAccepts(data) && lighthouseAccepts(data)
		if err == nil && !both {
			t.Fatalf("accepted %q, but geth %v, lighthouse %v", data, gethAccepts(data), lighthouseAccepts(data))
		}
		if err != nil && both {
			trimmed := strings.TrimRightFunc(string(data), unicode.IsSpace)
			plainTail := strings.Trim(string(data)[len(trimmed):], " \t\r\n") == ""
			if plainTail && strings.TrimPrefix(trimmed, "0x") != strings.Repeat("0", 64) {
				t.Fatalf("refused %q, which geth and lighthouse accept: %v", data, err)
			}
		}
	})
}

// FuzzParseHostKey: never panics; an accepted key is consistent and
// survives a write and a re-read. With wrap set, the input is the binary
// key body and the harness adds the PEM armour, so that the fuzzer mutates
// the OpenSSH structure itself rather than base64.
func FuzzParseHostKey(f *testing.F) {
	good, pubLine, _, err := GenerateHostKey("seed")
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
		priv, pub, err := ParseHostKey(data)
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
		priv2, _, err := ParseHostKey(again)
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
