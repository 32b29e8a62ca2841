package jwt

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// A key as `openssl rand -hex 32` writes it.
const testHex = "4bd1e0bf57f06c3b8a0c37e2c3ebb5ba2f9b1e43c95b7d21a7b3da5ac6fb0e7d"

func testKey(t *testing.T) Secret {
	t.Helper()
	var j Secret
	if _, err := hex.Decode(j[:], []byte(testHex)); err != nil {
		t.Fatal(err)
	}
	return j
}

func TestParse(t *testing.T) {
	upper := strings.ToUpper(testHex)
	for _, c := range []struct {
		name, in string
		err      string // "" = accepted as testHex
	}{
		{"plain", testHex, ""},
		{"newline", testHex + "\n", ""},
		{"crlf", testHex + "\r\n", ""},
		{"spaces and tabs after", testHex + "  \t \n\n", ""},
		{"0x prefix", "0x" + testHex, ""},
		{"0x prefix and newline", "0x" + testHex + "\n", ""},
		{"uppercase digits", upper + "\n", ""},
		{"0x and uppercase digits", "0x" + upper, ""},
		{"leading space", " " + testHex, "starts with whitespace, which lighthouse does not accept"},
		{"leading newline", "\n" + testHex + "\n", "starts with whitespace"},
		{"leading tab", "\t0x" + testHex, "starts with whitespace"},
		{"0X prefix", "0X" + testHex, "uses 0X; lighthouse accepts only a lowercase 0x"},
		{"63 digits", testHex[:63], "has 63 hex digits, want 64"},
		{"65 digits", testHex + "a", "has 65 hex digits, want 64"},
		{"32 digits", testHex[:32] + "\n", "has 32 hex digits, want 64"},
		{"0x only", "0x\n", "has 0 hex digits, want 64"},
		{"non-hex char", testHex[:10] + "g" + testHex[11:], "not a hex digit at byte 11"},
		{"non-hex char after 0x", "0x" + testHex[:10] + "z" + testHex[11:], "not a hex digit at byte 13"},
		{"double 0x", "0x0x" + testHex, "not a hex digit at byte 4"},
		{"two lines", testHex + "\n" + testHex + "\n", "whitespace at byte 65 followed by more content"},
		{"space inside", testHex[:32] + " " + testHex[32:], "whitespace at byte 33"},
		{"trailing vertical tab", testHex + "\v", "vertical tab or form feed at byte 65"},
		{"trailing form feed then newline", testHex + "\f\n", "vertical tab or form feed at byte 65"},
		{"trailing NUL", testHex + "\x00", "not a hex digit at byte 65"},
		{"quoted", `"` + testHex + `"`, "not a hex digit at byte 1"},
		{"BOM", "\xef\xbb\xbf" + testHex, "byte order mark"},
		{"empty", "", "is empty"},
		{"only whitespace", " \n", "only whitespace"},
		{"newline only", "\n", "only whitespace"},
		{"all zeros", strings.Repeat("0", 64) + "\n", "is all zeros"},
		{"all zeros 0x", "0x" + strings.Repeat("0", 64), "is all zeros"},
		{"base64 instead", "S9Hgv1fwbDuKDDfiw+u1ui+bHkPJW30hp7PaWsb7Dn0=", "not a hex digit at byte 1,"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := Parse([]byte(c.in))
			if c.err == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if !got.Equal(testKey(t)) {
					t.Fatal("parsed to another key")
				}
				return
			}
			var je *Error
			if !errors.As(err, &je) {
				t.Fatalf("err = %v (%T), want a *Error", err, err)
			}
			if !strings.Contains(err.Error(), c.err) {
				t.Errorf("err = %q, want it to contain %q", err, c.err)
			}
			if got != (Secret{}) {
				t.Error("a key returned with an error")
			}
			if leak := leakedRun(c.in, err.Error()); leak != "" {
				t.Errorf("err = %q quotes %q of the input", err, leak)
			}
		})
	}
}

// leakedRun returns a run of 6 or more hex digits of in that msg contains.
func leakedRun(in, msg string) string {
	const n = 6
	for i := 0; i+n <= len(in); i++ {
		w := in[i : i+n]
		if strings.IndexFunc(w, func(r rune) bool { return !isHex(byte(r)) || r > 0x7f }) >= 0 {
			continue
		}
		if strings.Contains(strings.ToLower(msg), strings.ToLower(w)) {
			return w
		}
	}
	return ""
}

func TestEncode(t *testing.T) {
	j := testKey(t)
	if got := string(j.Encode()); got != testHex+"\n" {
		t.Errorf("Encode = %q, want %q", got, testHex+"\n")
	}
	g, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse(g.Encode())
	if err != nil || !back.Equal(g) || back != g {
		t.Fatalf("generated key does not round-trip: %v", err)
	}
	g2, _ := Generate()
	if g.Equal(g2) {
		t.Error("two generated keys are equal")
	}
}

func TestRedacted(t *testing.T) {
	j := testKey(t)
	type report struct {
		Key Secret
		Ptr *Secret
	}
	r := report{j, &j}
	outs := []string{j.String(), j.GoString()}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%08x", "% x"} {
		outs = append(outs, fmt.Sprintf(verb, j), fmt.Sprintf(verb, &j), fmt.Sprintf(verb, r), fmt.Sprintf(verb, []Secret{j}))
	}
	js, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	outs = append(outs, string(js))
	for _, o := range outs {
		if !strings.Contains(o, "redacted") {
			t.Errorf("%q: not redacted", o)
		}
		for _, leak := range []string{testHex[:8], strings.ToUpper(testHex[:8]), "75 209", "0x4b", "[75"} {
			if strings.Contains(o, leak) {
				t.Errorf("%q shows the key", o)
			}
		}
	}
}
