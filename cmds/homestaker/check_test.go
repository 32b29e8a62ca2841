package main

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/homestaker/homestaker-boot/init/hostkey"
	"github.com/homestaker/homestaker-boot/init/jwt"
	"github.com/homestaker/homestaker-boot/init/report"
	"github.com/homestaker/homestaker-boot/init/wgconf"
)

// cli runs the homestaker command line as main does, on testHost.
func cli(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(testHost(t), args, &out, &errb)
	return code, out.String(), errb.String()
}

// testHost is this machine without a terminal to ask a password on, so
// that a test run from one never waits for a password.
func testHost(t *testing.T) *host {
	h := thisHost()
	h.passwordTTY = filepath.Join(t.TempDir(), "no-tty")
	return h
}

// legacyTree writes a volume in the getting-started guide's layout, with
// keys made by the init's own code.
func legacyTree(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	write := func(rel string, data []byte, mode os.FileMode) {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, mode); err != nil {
			t.Fatal(err)
		}
	}
	priv, err := wgconf.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	peer, _ := wgconf.GeneratePrivateKey()
	write("secrets/wireguard/wg0.conf", wgconf.Marshal(&wgconf.Config{
		Name:      "wg0",
		Interface: wgconf.Interface{PrivateKey: priv, Addresses: []netip.Prefix{netip.MustParsePrefix("10.8.0.2/24")}},
		Peers:     []wgconf.Peer{{PublicKey: peer.PublicKey(), AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.8.0.0/24")}}},
	}), 0o600)
	secret, err := jwt.Generate()
	if err != nil {
		t.Fatal(err)
	}
	write("erigon/jwt.hex", secret.Encode(), 0o600)
	write("lighthouse/jwt.hex", secret.Encode(), 0o600)
	key, pub, _, err := hostkey.Generate("test")
	if err != nil {
		t.Fatal(err)
	}
	write("secrets/ssh/id_ed25519", key, 0o600)
	write("secrets/ssh/id_ed25519.pub", pub, 0o644)
	return root
}

func TestCheckGoodLegacyTree(t *testing.T) {
	root := legacyTree(t)
	code, out, errOut := cli(t, "check", root)
	if code != exitOK {
		t.Fatalf("check = %d\n%s%s", code, out, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 {
		t.Fatalf("want one line per check (4), got:\n%s", out)
	}
	for i, name := range []string{"subvolumes", "wireguard", "jwt", "ssh host key"} {
		if !strings.HasPrefix(lines[i], "[  OK  ] "+name+": ") {
			t.Errorf("line %d = %q, want [  OK  ] %s: ...", i+1, lines[i], name)
		}
	}
}

func TestCheckMissingJWT(t *testing.T) {
	root := legacyTree(t)
	if err := os.Remove(filepath.Join(root, "lighthouse/jwt.hex")); err != nil {
		t.Fatal(err)
	}
	code, out, _ := cli(t, "check", root)
	if code != exitCheck {
		t.Fatalf("check = %d, want %d\n%s", code, exitCheck, out)
	}
	if !strings.Contains(out, "[FAILED] jwt: ") || !strings.Contains(out, "lighthouse/jwt.hex") {
		t.Errorf("output does not name the missing copy:\n%s", out)
	}
	if !strings.Contains(out, "\n  to do: ") {
		t.Errorf("no to-do line under the failed check:\n%s", out)
	}

	code, out, _ = cli(t, "check", "--json", root)
	if code != exitCheck {
		t.Fatalf("check --json = %d, want %d", code, exitCheck)
	}
	var res struct {
		Path   string `json:"path"`
		OK     bool   `json:"ok"`
		Checks []struct {
			Name    string        `json:"name"`
			Status  report.Status `json:"status"`
			Message string        `json:"message"`
			Action  string        `json:"action"`
		} `json:"checks"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("--json output does not parse: %v\n%s", err, out)
	}
	if res.OK || res.Path != root || len(res.Checks) != 4 {
		t.Errorf("--json = %+v, want ok=false, path %s, 4 checks", res, root)
	}
	for _, c := range res.Checks {
		if c.Name == "jwt" && (c.Status != report.Failed || !strings.Contains(c.Message, "lighthouse") || c.Action == "") {
			t.Errorf("jwt check in JSON = %+v", c)
		}
	}
}

func TestCheckWireGuardModes(t *testing.T) {
	root := legacyTree(t)
	if err := os.RemoveAll(filepath.Join(root, "secrets/wireguard")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		mode string
		code int
		line string
	}{
		{"required", exitCheck, "[FAILED] wireguard: "},
		{"optional", exitOK, "[ WARN ] wireguard: "},
		{"off", exitOK, "[  OK  ] wireguard: no wg0.conf"},
	} {
		code, out, _ := cli(t, "check", "--wg", tc.mode, root)
		if code != tc.code || !strings.Contains(out, tc.line) {
			t.Errorf("check --wg %s = %d, want %d and %q:\n%s", tc.mode, code, tc.code, tc.line, out)
		}
	}
}

func TestCheckSubvols(t *testing.T) {
	root := legacyTree(t)
	code, out, _ := cli(t, "check", "--subvols", "secrets,erigon,lighthouse,addons", root)
	if code != exitCheck || !strings.Contains(out, "[FAILED] subvolumes: missing") || !strings.Contains(out, "addons") {
		t.Errorf("check with a missing subvolume = %d:\n%s", code, out)
	}
}

func TestCheckUsage(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"check"}, exitUsage, "PATH is missing"},
		{[]string{"check", file}, exitUsage, "is not a directory"},
		{[]string{"check", filepath.Join(dir, "nope")}, exitUsage, "no such file"},
		{[]string{"check", dir, dir}, exitUsage, "one PATH expected"},
		{[]string{"check", "--wg", "sometimes", dir}, exitUsage, "--wg"},
		{[]string{"check", "--subvols", "secrets,,erigon", dir}, exitUsage, "--subvols"},
		{[]string{"check", "--subvols", "secrets,a/b", dir}, exitUsage, "contains /"},
		{[]string{"check", "--frobnicate", dir}, exitUsage, "not defined"},
		{[]string{"check", "--help"}, exitOK, "--json"},
	} {
		code, out, errOut := cli(t, tc.args...)
		if code != tc.code || !strings.Contains(out+errOut, tc.msg) {
			t.Errorf("%q = %d, %q %q; want %d and %q", tc.args, code, out, errOut, tc.code, tc.msg)
		}
		if code == exitUsage && !strings.Contains(errOut, "usage: homestaker check") {
			t.Errorf("%q: no usage line on stderr: %q", tc.args, errOut)
		}
	}
}
