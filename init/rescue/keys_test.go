package rescue

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

func testPublicKey(t testing.TB) string {
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return authorizedLine(k)
}

func TestParseAuthorizedLine(t *testing.T) {
	key := testPublicKey(t)
	for _, tc := range []struct {
		line    string
		problem string // "" for a usable line
		from    string // the prefixes, comma-separated
	}{
		{key, "", ""},
		{key + " operator@laptop", "", ""},
		{"restrict,no-pty " + key, "", ""},
		{"no-port-forwarding,no-agent-forwarding,no-X11-forwarding,no-user-rc " + key, "", ""},
		{"restrict,pty " + key, "", ""},
		{`environment="PATH=/tmp" ` + key, "the environment option", ""},
		{`permitopen="host:22" ` + key, "the permitopen option", ""},
		{`permitlisten="8080" ` + key, "the permitlisten option", ""},
		{`tunnel="0" ` + key, "the tunnel option", ""},
		{"verify-required " + key, "the verify-required option", ""},
		{"no-touch-required " + key, "the no-touch-required option", ""},
		{"frobnicate " + key, "does not document", ""},
		{"AAAAsecretlookingoption " + key, "does not document", ""},
		{`from="10.0.0.0/8,192.0.2.7,2001:db8::/32" ` + key, "", "10.0.0.0/8,192.0.2.7/32,2001:db8::/32"},
		{`FROM="::ffff:192.0.2.7" ` + key, "", "192.0.2.7/32"},
		{`from="*.example.com" ` + key, "from= lists host names or patterns", ""},
		{`from="!10.0.0.1,10.0.0.0/8" ` + key, "from= lists host names or patterns", ""},
		{`command="backup" ` + key, "the command option", ""},
		{`restrict,command="echo \"hi\"" ` + key, "the command option", ""},
		{`expiry-time="20200101" ` + key, "the expiry-time option", ""},
		{"cert-authority " + key, "the cert-authority option", ""},
		{"ssh-ed25519 AAAA", "not an authorized_keys line", ""},
		{"-----BEGIN OPENSSH PRIVATE KEY-----", "not an authorized_keys line", ""},
	} {
		k, problem := parseAuthorizedLine([]byte(tc.line))
		if tc.problem == "" && problem != "" || !strings.Contains(problem, tc.problem) {
			t.Errorf("%.40s...: problem %q, want %q", tc.line, problem, tc.problem)
			continue
		}
		if problem != "" {
			if strings.Contains(problem, "AAAA") {
				t.Errorf("%.40s...: the warning quotes the line: %q", tc.line, problem)
			}
			continue
		}
		var from []string
		for _, p := range k.from {
			from = append(from, p.String())
		}
		if got := strings.Join(from, ","); got != tc.from {
			t.Errorf("%.40s...: from %q, want %q", tc.line, got, tc.from)
		}
	}
}

func TestAdmits(t *testing.T) {
	k, _ := parseAuthorizedLine([]byte(`from="10.1.0.0/16,fd00::1" ` + testPublicKey(t)))
	for addr, want := range map[string]bool{
		"10.1.2.3":        true,
		"::ffff:10.1.2.3": true,
		"10.2.0.1":        false,
		"fd00::1":         true,
		"fd00::2":         false,
		"fe80::1%wg0":     false,
		"127.0.0.1":       false,
	} {
		if got := k.admits(netip.MustParseAddr(addr)); got != want {
			t.Errorf("admits(%s) = %v, want %v", addr, got, want)
		}
	}
}

func TestParseAuthorizedKeysNamesLines(t *testing.T) {
	text := "# keys\n\n" + testPublicKey(t) + " a\r\nnonsense\n" + testPublicKey(t) + "\n"
	var warnings []string
	keys := parseAuthorizedKeys("ak", []byte(text), func(format string, args ...any) {
		warnings = append(warnings, fmt.Sprintf(format, args...))
	})
	if len(keys) != 2 || keys[0].where != "ak:3" || keys[1].where != "ak:5" {
		t.Errorf("keys = %v, want ak:3 and ak:5", keys)
	}
	if len(warnings) != 1 || !strings.HasPrefix(warnings[0], "ak:4: ") {
		t.Errorf("warnings = %q, want one for ak:4", warnings)
	}
}

// FuzzParseAuthorizedKeys checks that the parser never panics and that a
// warning is a file:line and a fixed text: a private key pasted by
// mistake must not reach the log.
func FuzzParseAuthorizedKeys(f *testing.F) {
	f.Add([]byte(testPublicKey(f) + " c\n"))
	f.Add([]byte(`restrict,from="10.0.0.0/8" ` + testPublicKey(f) + "\n# x\nbad line\n"))
	f.Add([]byte(`command="a\"b" ` + testPublicKey(f)))
	fixed := map[string]bool{malformedLine: true, fromPatterns: true, unknownOption: true}
	for o := range unhonouredOptions {
		fixed[unhonoured(o)] = true
	}
	warning := regexp.MustCompile(`^f:[0-9]+: (.*); line skipped$`)
	f.Fuzz(func(t *testing.T, b []byte) {
		parseAuthorizedKeys("f", b, func(format string, args ...any) {
			msg := fmt.Sprintf(format, args...)
			if m := warning.FindStringSubmatch(msg); m == nil || !fixed[m[1]] {
				t.Fatalf("warning %q is not a file:line and a fixed text", msg)
			}
		})
	})
}
