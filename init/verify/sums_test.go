package verify

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

func digest(s string) [32]byte { return sha256.Sum256([]byte(s)) }

func hexOf(s string) string {
	d := digest(s)
	return string(FormatSums(Sums{"x": d})[:64])
}

func TestParseSums(t *testing.T) {
	a, b := hexOf("a"), hexOf("b")
	for _, tc := range []struct {
		name string
		in   string
		want Sums
	}{
		{"empty", "", Sums{}},
		{"text mode", a + "  bzImage\n", Sums{"bzImage": digest("a")}},
		{"binary mode", a + " *bzImage\n", Sums{"bzImage": digest("a")}},
		{"both, no final newline", a + "  bzImage\n" + b + " *initrd.zst", Sums{"bzImage": digest("a"), "initrd.zst": digest("b")}},
		{"CRLF", a + "  bzImage\r\n" + b + "  initrd.zst\r\n", Sums{"bzImage": digest("a"), "initrd.zst": digest("b")}},
		{"blank lines", "\n" + a + "  bzImage\n\n  \n" + b + "  kexec-boot\n\n", Sums{"bzImage": digest("a"), "kexec-boot": digest("b")}},
		{"uppercase hex", strings.ToUpper(a) + "  bzImage\n", Sums{"bzImage": digest("a")}},
		{"./ prefix is cleaned", a + "  ./bzImage\n", Sums{"bzImage": digest("a")}},
		{"subdirectory", a + "  nix/initrd.zst\n", Sums{"nix/initrd.zst": digest("a")}},
		{"space in a name", a + "  my kernel\n", Sums{"my kernel": digest("a")}},
		{"dots that are not ..", a + "  ..bzImage\n", Sums{"..bzImage": digest("a")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseSums("SHA256SUMS", []byte(tc.in))
			if err != nil {
				t.Fatalf("ParseSums: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestParseSumsErrors(t *testing.T) {
	a := hexOf("a")
	for _, tc := range []struct {
		name, in string
		line     int
		msg      string
	}{
		{"comment", "# made by hand\n" + a + "  bzImage\n", 1, "expected a sha256sum line"},
		{"bad hex", strings.Repeat("g", 64) + "  bzImage\n", 1, "not a sha256 digest"},
		{"short digest", a[:63] + "  bzImage\n", 1, "expected a sha256sum line"},
		{"long digest", a + "0  bzImage\n", 1, "expected a sha256sum line"},
		{"one space", a + " bzImage\n", 1, "expected a sha256sum line"},
		{"no name", a + "  \n", 1, "empty file name"},
		{"digest only", a + "\n", 1, "expected a sha256sum line"},
		{"BSD tag format", "SHA256 (bzImage) = " + a + "\n", 1, "expected a sha256sum line"},
		{"absolute", a + "  /boot/bzImage\n", 1, "absolute path"},
		{"traversal", "\n" + a + "  ../secrets/wg0.conf\n", 2, "leaves the tree"},
		{"traversal inside", a + "  nix/../../x\n", 1, "leaves the tree"},
		{"dot", a + "  .\n", 1, "the tree's directory"},
		{"duplicate", a + "  bzImage\n" + a + " *bzImage\n", 2, "listed twice (first on line 1)"},
		{"duplicate after cleaning", a + "  bzImage\n" + a + "  ./bzImage\n", 2, "listed twice"},
		{"escaped name", `\` + a + `  a\\b` + "\n", 1, "escaped file name"},
		{"NUL", a + "  bz\x00Image\n", 1, "NUL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseSums("SHA256SUMS", []byte(tc.in))
			var se *SumsError
			if !errors.As(err, &se) {
				t.Fatalf("ParseSums = %v, want a *SumsError", err)
			}
			if se.Line != tc.line || !strings.Contains(se.Msg, tc.msg) {
				t.Errorf("got line %d %q, want line %d and %q", se.Line, se.Msg, tc.line, tc.msg)
			}
			if want := "SHA256SUMS:" + strconv.Itoa(tc.line) + ": "; !strings.HasPrefix(err.Error(), want) {
				t.Errorf("error %q does not start with %q", err, want)
			}
		})
	}
}

func TestFormatSumsRoundTrip(t *testing.T) {
	s := Sums{"kexec-boot": digest("k"), "bzImage": digest("b"), "initrd.zst": digest("i"), "nix/x": digest("x")}
	out := FormatSums(s)
	want := hexOf("b") + "  bzImage\n" + hexOf("i") + "  initrd.zst\n" + hexOf("k") + "  kexec-boot\n" + hexOf("x") + "  nix/x\n"
	if string(out) != want {
		t.Errorf("FormatSums =\n%s\nwant\n%s", out, want)
	}
	back, err := ParseSums("SHA256SUMS", out)
	if err != nil || !reflect.DeepEqual(back, s) {
		t.Errorf("ParseSums(FormatSums(s)) = %v, %v; want %v", back, err, s)
	}
	if got := FormatSums(Sums{}); len(got) != 0 {
		t.Errorf("FormatSums(empty) = %q", got)
	}
}

// TestFormatSumsAsSha256sum checks that FormatSums writes what sha256sum
// writes, and that ParseSums reads both of its modes.
func TestFormatSumsAsSha256sum(t *testing.T) {
	if _, err := exec.LookPath("sha256sum"); err != nil {
		t.Skip("sha256sum not installed")
	}
	dir := t.TempDir()
	s := Sums{}
	for name, content := range map[string]string{"bzImage": "kernel", "initrd.zst": "initrd", "kexec-boot": "#!/usr/bin/env bash\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		s[name] = digest(content)
	}
	for _, mode := range []string{"--text", "--binary"} {
		cmd := exec.Command("sha256sum", mode, "bzImage", "initrd.zst", "kexec-boot")
		cmd.Dir = dir
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("sha256sum %s: %v", mode, err)
		}
		if mode == "--text" && !bytes.Equal(out, FormatSums(s)) {
			t.Errorf("sha256sum wrote\n%s\nFormatSums wrote\n%s", out, FormatSums(s))
		}
		got, err := ParseSums("SHA256SUMS", out)
		if err != nil || !reflect.DeepEqual(got, s) {
			t.Errorf("ParseSums(sha256sum %s) = %v, %v; want %v", mode, got, err, s)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "SHA256SUMS"), FormatSums(s), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sha256sum", "--check", "--strict", "SHA256SUMS")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("sha256sum --check of FormatSums: %v\n%s", err, out)
	}
}
