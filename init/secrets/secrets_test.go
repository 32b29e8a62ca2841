package secrets

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/homestaker/homestaker-boot/init/hostkey"
	"github.com/homestaker/homestaker-boot/init/report"
	"github.com/homestaker/homestaker-boot/init/wgconf"
)

const jwtHex = "4b1a6f0e5c3d2a19880766554433221100ffeeddccbbaa99887766554433aa01"

type tree struct {
	t    *testing.T
	root string
}

func newTree(t *testing.T, subvols ...string) *tree {
	root := t.TempDir()
	for i, s := range subvols {
		mode := os.FileMode(0o755)
		if i == 0 {
			mode = 0o700 // the secrets, as `homestaker prepare` makes them
		}
		if err := os.Mkdir(filepath.Join(root, s), mode); err != nil {
			t.Fatal(err)
		}
	}
	return &tree{t, root}
}

func (tr *tree) write(rel, data string, mode os.FileMode) {
	p := filepath.Join(tr.root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		tr.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), mode); err != nil {
		tr.t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		tr.t.Fatal(err)
	}
}

func wgConf(t *testing.T) (string, wgconf.Key) {
	priv, err := wgconf.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	peer, _ := wgconf.GeneratePrivateKey()
	conf := "[Interface]\nPrivateKey = " + base64Key(priv) + "\nAddress = 10.0.0.2/32\n\n[Peer]\nPublicKey = " + peer.PublicKey().String() +
		"\nEndpoint = vpn.example.org:51820\nAllowedIPs = 10.0.0.0/24\nPersistentKeepalive = 25\n"
	return conf, priv
}

// base64Key renders a private key the way wg genkey prints it; only the
// test may do this.
func base64Key(k wgconf.Key) string {
	c := &wgconf.Config{Name: "wg0", Interface: wgconf.Interface{PrivateKey: k}}
	for _, line := range strings.Split(string(wgconf.Marshal(c)), "\n") {
		if strings.HasPrefix(line, "PrivateKey = ") {
			return strings.TrimPrefix(line, "PrivateKey = ")
		}
	}
	panic("no PrivateKey in Marshal output")
}

func hostKey(t *testing.T) (string, string) {
	priv, pub, _, err := hostkey.Generate("test")
	if err != nil {
		t.Fatal(err)
	}
	return string(priv), string(pub)
}

var opts = Options{Subvols: []string{"secrets", "erigon", "lighthouse"}, WGNeeded: true}

func status(r *Result) map[string]Check {
	m := map[string]Check{}
	for _, c := range r.Checks {
		m[c.Name] = c
	}
	return m
}

func TestLegacyLayoutOK(t *testing.T) {
	tr := newTree(t, "secrets", "erigon", "lighthouse")
	conf, priv := wgConf(t)
	tr.write("secrets/wireguard/wg0.conf", conf, 0o600)
	tr.write("erigon/jwt.hex", jwtHex+"\n", 0o600)
	tr.write("lighthouse/jwt.hex", "0x"+jwtHex+"\n", 0o600)
	k, pub := hostKey(t)
	tr.write("secrets/ssh/id_ed25519", k, 0o600)
	tr.write("secrets/ssh/id_ed25519.pub", pub, 0o644)

	r := CheckVolume(tr.root, opts)
	for _, c := range r.Checks {
		if c.Status != report.OK {
			t.Errorf("%s: %s %s", c.Name, c.Status, c.Message)
		}
	}
	if r.WG == nil || r.WG.Interface.PrivateKey != priv {
		t.Error("the parsed wg0.conf is not returned for the tunnel")
	}
	assertNoSecret(t, r, base64Key(priv), jwtHex, k)
}

// With the wg0.conf check handed in (the init's one read per boot),
// CheckVolume reports it and does not read the file again.
func TestCheckVolumeTakesWireGuard(t *testing.T) {
	tr := newTree(t, "secrets", "erigon", "lighthouse")
	conf, _ := wgConf(t)
	tr.write("secrets/wg0.conf", conf, 0o600)
	tr.write("secrets/jwt.hex", jwtHex, 0o600)
	wg := CheckWireGuard(filepath.Join(tr.root, "secrets"), "secrets", true)
	if err := os.Remove(filepath.Join(tr.root, "secrets/wg0.conf")); err != nil {
		t.Fatal(err)
	}
	o := opts
	o.WireGuard = &wg
	r := CheckVolume(tr.root, o)
	if c := status(r)["wireguard"]; c.Status != report.OK || c.Message != wg.Check.Message {
		t.Errorf("wireguard check %+v, want the one handed in, %+v", c, wg.Check)
	}
	if r.WG != wg.Config || r.WGPath != wg.Path {
		t.Error("the handed-in wg0.conf is not returned for the tunnel")
	}
}

func TestCurrentLayoutOK(t *testing.T) {
	tr := newTree(t, "secrets", "erigon", "lighthouse")
	conf, _ := wgConf(t)
	tr.write("secrets/wg0.conf", conf, 0o600)
	tr.write("secrets/jwt.hex", jwtHex, 0o600)
	r := CheckVolume(tr.root, opts)
	s := status(r)
	if s["jwt"].Status != report.OK || s["wireguard"].Status != report.OK {
		t.Errorf("checks: %+v", r.Checks)
	}
	if s["ssh host key"].Status != report.Warning || !strings.Contains(s["ssh host key"].Message, "generates one at boot") {
		t.Errorf("absent host key: %+v", s["ssh host key"])
	}
}

func TestFailures(t *testing.T) {
	conf, priv := wgConf(t)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalECPrivateKey(ecKey)
	ecPEM := string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}))
	for _, tc := range []struct {
		name  string
		setup func(tr *tree)
		check string
		want  report.Status
		msg   string
	}{
		{"missing jwt in lighthouse", func(tr *tree) {
			tr.write("erigon/jwt.hex", jwtHex, 0o600)
		}, "jwt", report.Failed, "lighthouse"},
		{"mismatched jwts", func(tr *tree) {
			tr.write("erigon/jwt.hex", jwtHex, 0o600)
			tr.write("lighthouse/jwt.hex", strings.Replace(jwtHex, "4b", "4c", 1), 0o600)
		}, "jwt", report.Failed, "erigon/jwt.hex"},
		{"no jwt at all", func(tr *tree) {}, "jwt", report.Failed, "generate"},
		{"both wg0.conf", func(tr *tree) {
			tr.write("secrets/wg0.conf", conf, 0o600)
			tr.write("secrets/wireguard/wg0.conf", conf, 0o600)
		}, "wireguard", report.Failed, "both"},
		{"malformed wg0.conf names the line", func(tr *tree) {
			tr.write("secrets/wg0.conf", strings.Replace(conf, "AllowedIPs = 10.0.0.0/24", "AllowedIPs = 10.0.0.0/33", 1), 0o600)
		}, "wireguard", report.Failed, "wg0.conf:8: AllowedIPs"},
		{"group-readable wg0.conf warns", func(tr *tree) {
			tr.write("secrets/wg0.conf", conf, 0o640)
		}, "wireguard", report.Warning, "group or others"},
		{"no wg0.conf", func(tr *tree) {}, "wireguard", report.Failed, "homestaker.wg=off"},
		{"ecdsa host key", func(tr *tree) {
			tr.write("secrets/ssh/id_ed25519", ecPEM, 0o600)
		}, "ssh host key", report.Failed, "EC PRIVATE KEY"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTree(t, "secrets", "erigon", "lighthouse")
			tc.setup(tr)
			r := CheckVolume(tr.root, opts)
			c := status(r)[tc.check]
			if c.Status != tc.want || !strings.Contains(c.Message+" "+c.Action, tc.msg) {
				t.Errorf("%s = %s %q, want %s containing %q", tc.check, c.Status, c.Message, tc.want, tc.msg)
			}
			assertNoSecret(t, r, base64Key(priv), jwtHex)
		})
	}
}

func TestMissingSubvolume(t *testing.T) {
	tr := newTree(t, "secrets", "erigon")
	c := status(CheckVolume(tr.root, opts))["subvolumes"]
	if c.Status != report.Failed || !strings.Contains(c.Message, "lighthouse") {
		t.Errorf("subvolumes = %+v", c)
	}
}

// A secrets directory (no mount of its own) open to other users, as
// `mkdir -p /mnt/{secrets,erigon,lighthouse}` leaves it, is warned about;
// closed, it is fine.
func TestSecretsDirectoryMode(t *testing.T) {
	tr := newTree(t, "secrets", "erigon", "lighthouse")
	c := status(CheckVolume(tr.root, opts))["subvolumes"]
	if c.Status != report.OK || c.Message != "secrets, erigon, lighthouse (directories)" {
		t.Errorf("mode 0700: %+v", c)
	}
	if err := os.Chmod(filepath.Join(tr.root, "secrets"), 0o755); err != nil {
		t.Fatal(err)
	}
	c = status(CheckVolume(tr.root, opts))["subvolumes"]
	if c.Status != report.Warning || !strings.Contains(c.Message, "mode 0755") || !strings.Contains(c.Message, "chmod 700") {
		t.Errorf("mode 0755: %+v", c)
	}
}

func TestEnsureHostKeyGeneratesOnce(t *testing.T) {
	dir := t.TempDir()
	fp, gen, err := EnsureHostKey(dir, "node")
	if err != nil || !gen || !strings.HasPrefix(fp, "SHA256:") {
		t.Fatalf("EnsureHostKey = %q %v %v", fp, gen, err)
	}
	st, err := os.Stat(filepath.Join(dir, HostKey))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", st, err)
	}
	if _, gen, _ := EnsureHostKey(dir, "node"); gen {
		t.Error("a second call generated another key")
	}
	c := CheckHostKey(dir, "secrets")
	if c.Status != report.OK || c.Facts["fingerprint"] != fp {
		t.Errorf("check after generation = %+v, want fingerprint %s", c, fp)
	}
}

// assertNoSecret fails when a secret value appears in any message or fact.
func assertNoSecret(t *testing.T, r *Result, secrets ...string) {
	t.Helper()
	for _, c := range r.Checks {
		text := c.Message + c.Action
		for _, v := range c.Facts {
			text += " " + strings.Join(strings.Fields(strings.Trim(strings.ReplaceAll(strings.ReplaceAll(fmtAny(v), "[", " "), "]", " "), " ")), " ")
		}
		for _, s := range secrets {
			for _, line := range strings.Split(strings.TrimSpace(s), "\n") {
				if len(line) > 16 && strings.Contains(text, line) {
					t.Errorf("check %s shows a secret: %q", c.Name, line)
				}
			}
		}
	}
}

func fmtAny(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []string:
		return strings.Join(x, " ")
	}
	return ""
}

// The secrets on a hostile volume: a 10 GiB sparse jwt.hex, a FIFO as
// wg0.conf, a host key linked to /dev/zero. Each check fails at once,
// naming the file and what it is; nothing blocks or fills memory.
func TestHostileSecrets(t *testing.T) {
	tr := newTree(t, "secrets", "erigon", "lighthouse")
	tr.write("erigon/jwt.hex", jwtHex+"\n", 0o600)
	big, err := os.Create(filepath.Join(tr.root, "lighthouse", "jwt.hex"))
	if err != nil {
		t.Fatal(err)
	}
	if err := big.Truncate(10 << 30); err != nil {
		t.Fatal(err)
	}
	big.Close()
	os.MkdirAll(filepath.Join(tr.root, "secrets", "wireguard"), 0o700)
	if err := syscall.Mkfifo(filepath.Join(tr.root, "secrets", "wireguard", "wg0.conf"), 0o600); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(tr.root, "secrets", "ssh"), 0o700)
	os.Symlink("/dev/zero", filepath.Join(tr.root, "secrets", "ssh", "id_ed25519"))

	done := make(chan *Result, 1)
	go func() { done <- CheckVolume(tr.root, opts) }()
	var r *Result
	select {
	case r = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("CheckVolume blocked")
	}
	want := map[string]string{
		"jwt":          "jwt.hex is 10737418240 bytes",
		"wireguard":    "wg0.conf is a FIFO, not a regular file",
		"ssh host key": "symbolic link out of the volume",
	}
	for _, c := range r.Checks {
		if w, ok := want[c.Name]; ok {
			if c.Status != report.Failed || !strings.Contains(c.Message, w) {
				t.Errorf("%s: %s %q, want failed with %q", c.Name, c.Status, c.Message, w)
			}
			delete(want, c.Name)
		}
	}
	if len(want) > 0 {
		t.Errorf("no check for %v", want)
	}
}
