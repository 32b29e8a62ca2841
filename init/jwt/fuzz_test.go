package jwt

import (
	"encoding/hex"
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

// FuzzParse: never panics; every error is a *Error that quotes no
// run of the input's hex digits; Parse accepts exactly what both geth
// and lighthouse accept, minus the all-zero key and trailing whitespace
// other than space, tab, CR and LF; and an accepted key re-encodes to a
// file that parses to the same key.
func FuzzParse(f *testing.F) {
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
		j, err := Parse(data)
		if err != nil {
			var je *Error
			if !errors.As(err, &je) || je.Msg == "" {
				t.Fatalf("err = %v (%T), want a *Error with a message", err, err)
			}
			if j != (Secret{}) {
				t.Fatal("key returned with an error")
			}
			if leak := leakedRun(string(data), err.Error()); leak != "" {
				t.Fatalf("err = %q quotes %q", err, leak)
			}
		} else {
			if j == (Secret{}) {
				t.Fatal("all-zero key accepted")
			}
			back, err := Parse(j.Encode())
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
