// Package secrets checks what the execution and consensus clients and the
// tunnel depend on: wg0.conf, the Engine API JWT copies and the SSH host
// key. The init's secrets stage and `homestaker check` run exactly this
// code. Results hold paths and public facts, never a secret value.
package secrets

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/homestaker/homestaker-boot/init/atomicfile"
	"github.com/homestaker/homestaker-boot/init/english"
	"github.com/homestaker/homestaker-boot/init/hostkey"
	"github.com/homestaker/homestaker-boot/init/jwt"
	"github.com/homestaker/homestaker-boot/init/report"
	"github.com/homestaker/homestaker-boot/init/storage"
	"github.com/homestaker/homestaker-boot/init/volfile"
	"github.com/homestaker/homestaker-boot/init/wgconf"
)

// Where the two layouts keep things, relative to the secrets subvolume.
const (
	WGLegacy   = "wireguard/wg0.conf"
	WGCurrent  = "wg0.conf"
	HostKey    = "ssh/id_ed25519"
	JWTName    = "jwt.hex"
	hostKeyPub = HostKey + ".pub"
)

// Check is the result of one check.
type Check struct {
	Name    string         `json:"name"`
	Status  report.Status  `json:"status"`
	Message string         `json:"message"`
	Action  string         `json:"action,omitempty"`
	Facts   map[string]any `json:"facts,omitempty"`
}

// Options say what the volume should hold.
type Options struct {
	// Subvols as in homestaker.subvols: the first is the secrets subvolume.
	Subvols []string
	// WGNeeded is false with homestaker.wg=off: a missing wg0.conf is then
	// fine.
	WGNeeded bool
	// WireGuard, when set, is the wg0.conf check the caller already ran
	// (CheckWireGuard, with WGNeeded), used instead of reading the file
	// again: the init's wireguard stage reads the same result.
	WireGuard *WireGuard
}

// Result is every check, and the parsed wg0.conf for the tunnel.
type Result struct {
	Checks []Check `json:"checks"`
	WG     *wgconf.Config
	WGPath string
}

// Failed returns the failed checks.
func (r *Result) Failed() []Check {
	var out []Check
	for _, c := range r.Checks {
		if c.Status == report.Failed {
			out = append(out, c)
		}
	}
	return out
}

// CheckVolume runs every check on root, the directory holding the
// subvolumes (the init's homestaker.mnt, or a volume mounted elsewhere).
func CheckVolume(root string, o Options) *Result {
	r := &Result{}
	secretsDir := filepath.Join(root, o.Subvols[0])
	r.Checks = append(r.Checks, checkSubvols(root, o.Subvols))
	wg := o.WireGuard
	if wg == nil {
		c := CheckWireGuard(secretsDir, o.Subvols[0], o.WGNeeded)
		wg = &c
	}
	r.WG, r.WGPath = wg.Config, wg.Path
	r.Checks = append(r.Checks, wg.Check)
	r.Checks = append(r.Checks, CheckJWT(root, o.Subvols))
	r.Checks = append(r.Checks, CheckHostKey(secretsDir, o.Subvols[0]))
	return r
}

// checkSubvols checks that every name is there, a subvolume or a plain
// directory (storage.KindOf, as the storage stage tells them), and that a
// secrets directory is closed to other users: a directory shares the
// volume's mount, so its mode is all that keeps them out.
func checkSubvols(root string, subvols []string) Check {
	c := Check{Name: "subvolumes", Status: report.OK}
	var missing []string
	var found []storage.Name
	for _, s := range subvols {
		p := filepath.Join(root, s)
		k, err := storage.KindOf(p)
		if err != nil {
			missing = append(missing, s)
			continue
		}
		found = append(found, storage.Name{Name: s, Kind: k, Path: p})
	}
	if len(missing) > 0 {
		c.Status = report.Failed
		c.Message = fmt.Sprintf("missing in %s (or not a directory): %s", root, strings.Join(missing, ", "))
		c.Action = "create them with `btrfs subvolume create` on Btrfs or `mkdir` (or `homestaker prepare` on a new disk)"
		return c
	}
	c.Message = fmt.Sprintf("%s (%s)", strings.Join(subvols, ", "), storage.DescribeLayout(found))
	if n := found[0]; n.Kind == storage.KindDirectory {
		if st, err := os.Stat(n.Path); err == nil {
			if w := storage.SecretsModeWarning(n.Path, st.Mode()); w != "" {
				c.Status = report.Warning
				c.Message += ": " + w
			}
		}
	}
	return c
}

// WireGuard is wg0.conf as CheckWireGuard found it.
type WireGuard struct {
	Config *wgconf.Config // nil when absent or invalid
	Path   string         // the file read; "" when none was
	Check  Check
}

// Bounds on what the secrets' files can hold: each is read whole, and a
// huge or sparse file is an error naming it, not a PID 1 out of memory.
const (
	maxJWT     = 4 << 10  // 64 hex digits, a 0x and white space
	maxWGConf  = 1 << 20  // a wg-quick file with many peers
	maxHostKey = 64 << 10 // an OpenSSH private key (RSA 16k included) or its .pub
)

// CheckWireGuard finds and parses wg0.conf in either layout.
func CheckWireGuard(secretsDir, secretsName string, needed bool) WireGuard {
	c := Check{Name: "wireguard"}
	legacy, current := filepath.Join(secretsDir, WGLegacy), filepath.Join(secretsDir, WGCurrent)
	_, errL := os.Stat(legacy)
	_, errC := os.Stat(current)
	var p string
	switch {
	case errL == nil && errC == nil:
		c.Status = report.Failed
		c.Message = fmt.Sprintf("both %s/%s and %s/%s exist; they may differ and the init will not guess", secretsName, WGLegacy, secretsName, WGCurrent)
		c.Action = "keep one (the newer layout uses " + secretsName + "/" + WGCurrent + ") and remove the other"
		return WireGuard{Check: c}
	case errL == nil:
		p = legacy
	case errC == nil:
		p = current
	default:
		if !needed {
			c.Status, c.Message = report.OK, "no wg0.conf (homestaker.wg=off)"
			return WireGuard{Check: c}
		}
		c.Status = report.Failed
		c.Message = fmt.Sprintf("no %s/%s or %s/%s", secretsName, WGLegacy, secretsName, WGCurrent)
		c.Action = "create it (`homestaker prepare --wg-...` writes one), or boot with homestaker.wg=off"
		return WireGuard{Check: c}
	}
	data, err := volfile.ReadFileAt(p, maxWGConf)
	if err != nil {
		c.Status, c.Message = report.Failed, err.Error()
		return WireGuard{Path: p, Check: c}
	}
	cfg, warns, err := wgconf.Parse(p, data)
	if err != nil {
		c.Status, c.Message = report.Failed, err.Error()
		c.Action = "fix the line named; wg-quick(8) documents the format"
		return WireGuard{Path: p, Check: c}
	}
	var msgs []string
	if st, err := os.Stat(p); err == nil {
		if w := wgconf.CheckMode(p, st.Mode()); w != nil {
			warns = append(warns, *w)
		}
	}
	for _, w := range warns {
		msgs = append(msgs, w.String())
	}
	var peers []string
	for _, peer := range cfg.Peers {
		e := "no endpoint"
		if peer.Endpoint != nil {
			e = peer.Endpoint.String()
		}
		peers = append(peers, peer.PublicKey.String()+" "+e)
	}
	c.Facts = map[string]any{"file": p, "interface": cfg.Name, "public_key": cfg.PublicKey().String(), "peers": peers}
	c.Status = report.OK
	c.Message = fmt.Sprintf("%s: interface %s, public key %s, %d peer(s)", rel(secretsName, secretsDir, p), cfg.Name, cfg.PublicKey(), len(cfg.Peers))
	if len(msgs) > 0 {
		c.Status = report.Warning
		c.Message += "; " + strings.Join(msgs, "; ")
	}
	return WireGuard{Config: cfg, Path: p, Check: c}
}

// CheckJWT collects every jwt.hex in the secrets and client subvolumes and
// applies the rules of package jwt.
func CheckJWT(root string, subvols []string) Check {
	c := Check{Name: "jwt"}
	var copies []jwt.Copy
	var present []string
	for i, s := range subvols {
		p := filepath.Join(root, s, JWTName)
		data, err := volfile.ReadFileAt(p, maxJWT)
		relPath := path.Join(s, JWTName)
		if i == 0 {
			// jwt.CheckCopies knows the secrets copy by this name.
			relPath = jwt.SharedPath
		}
		copies = append(copies, jwt.Copy{Path: relPath, Data: data, ReadErr: err})
		if i > 0 {
			if st, err := os.Stat(filepath.Join(root, s)); err == nil && st.IsDir() {
				present = append(present, s)
			}
		}
	}
	res := jwt.CheckCopies(copies, present)
	c.Facts = map[string]any{"copies": res.Copies}
	if res.Problem != nil {
		c.Status = report.Failed
		c.Message = res.Problem.Error()
		c.Action = "give every client the same jwt.hex: `homestaker prepare` writes one, or copy an existing one (`openssl rand -hex 32` makes a new one)"
		return c
	}
	c.Status = report.OK
	c.Message = fmt.Sprintf("%d identical %s: %s", len(res.Copies), english.Plural(len(res.Copies), "copy", "copies"), strings.Join(res.Copies, ", "))
	return c
}

// CheckHostKey checks the SSH host key. An absent key is a warning here:
// the init generates one at boot (EnsureHostKey).
func CheckHostKey(secretsDir, secretsName string) Check {
	c := Check{Name: "ssh host key"}
	p := filepath.Join(secretsDir, HostKey)
	data, err := volfile.ReadFileAt(p, maxHostKey)
	if errors.Is(err, fs.ErrNotExist) {
		c.Status = report.Warning
		c.Message = fmt.Sprintf("no %s/%s; the init generates one at boot", secretsName, HostKey)
		return c
	}
	if err != nil {
		c.Status, c.Message = report.Failed, err.Error()
		return c
	}
	_, pub, err := hostkey.Parse(data)
	if err != nil {
		c.Status = report.Failed
		c.Message = fmt.Sprintf("%s/%s: %v", secretsName, HostKey, err)
		c.Action = fmt.Sprintf("replace it with an Ed25519 key (`ssh-keygen -t ed25519 -N '' -f %s`), or delete it and the init generates one", p)
		return c
	}
	fp := hostkey.Fingerprint(pub)
	c.Facts = map[string]any{"fingerprint": fp}
	if pubData, err := volfile.ReadFileAt(filepath.Join(secretsDir, hostKeyPub), maxHostKey); err == nil {
		if err := hostkey.CheckPublicKey(pub, pubData); err != nil {
			c.Status, c.Message = report.Failed, fmt.Sprintf("%s/%s: %v", secretsName, hostKeyPub, err)
			return c
		}
	}
	c.Status = report.OK
	c.Message = fmt.Sprintf("%s/%s: ed25519 %s", secretsName, HostKey, fp)
	return c
}

// EnsureHostKey generates the SSH host key when absent and writes it
// atomically (0600, .pub 0644). It returns the fingerprint.
func EnsureHostKey(secretsDir, comment string) (fp string, generated bool, err error) {
	// Through a directory reached without following a link: a planted
	// secrets/ssh link must not take the key elsewhere.
	d, err := atomicfile.OpenDir(secretsDir, path.Dir(HostKey), true, 0o700)
	if err != nil {
		return "", false, err
	}
	defer d.Close()
	name := path.Base(HostKey)
	if ok, err := d.Exists(name); err != nil || ok {
		return "", false, err
	}
	priv, pub, fp, err := hostkey.Generate(comment)
	if err != nil {
		return "", false, err
	}
	if err := d.WriteFile(name, priv, 0o600); err != nil {
		return "", false, err
	}
	if err := d.WriteFile(name+".pub", pub, 0o644); err != nil {
		return "", false, err
	}
	return fp, true, nil
}

func rel(name, dir, p string) string {
	r, err := filepath.Rel(dir, p)
	if err != nil {
		return p
	}
	return path.Join(name, filepath.ToSlash(r))
}
