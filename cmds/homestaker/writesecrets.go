package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/homestaker/homestaker-boot/init/atomicfile"
	"github.com/homestaker/homestaker-boot/init/hostkey"
	"github.com/homestaker/homestaker-boot/init/jwt"
	"github.com/homestaker/homestaker-boot/init/secrets"
	"github.com/homestaker/homestaker-boot/init/wgconf"
)

// hostKeyComment is the comment of a generated SSH host key, the same as
// the init's.
const hostKeyComment = "root@homestaker"

// secretWriter writes the secrets into a mounted volume's top level. It
// keeps what exists unless rotate is set, and prints what it did: paths and
// public facts, never a secret value.
type secretWriter struct {
	top     string   // the top level, holding the subvolumes
	subvols []string // the first is the secrets subvolume
	layout  string   // "legacy" or "current"
	rotate  bool
	out     io.Writer
}

func (w *secretWriter) secretsName() string { return w.subvols[0] }

// abs turns a path relative to the top level ("erigon/jwt.hex") into one
// in the mount.
func (w *secretWriter) abs(rel string) string {
	return filepath.Join(w.top, filepath.FromSlash(rel))
}

func (w *secretWriter) printf(format string, args ...any) {
	fmt.Fprintf(w.out, format+"\n", args...)
}

// jwtTargets are the copies the layout wants.
func (w *secretWriter) jwtTargets() []string {
	shared := path.Join(w.secretsName(), secrets.JWTName)
	if w.layout == "current" {
		return []string{shared}
	}
	var t []string
	for _, sv := range w.subvols[1:] {
		if slices.Contains(jwt.ClientSubvolumes, sv) {
			t = append(t, path.Join(sv, secrets.JWTName))
		}
	}
	if len(t) == 0 {
		w.printf("jwt: none of the subvolumes %s is a client's; the legacy layout keeps the JWT in each client subvolume, so it goes to %s",
			strings.Join(w.subvols[1:], ", "), shared)
		return []string{shared}
	}
	return t
}

// writeJWT writes the JWT to every copy the layout wants. An existing
// valid copy anywhere (secrets/ first, then the subvolumes in order) gives
// the value of new copies, so that all copies stay identical; with rotate
// a new secret replaces every copy there is.
func (w *secretWriter) writeJWT() error {
	candidates := []string{path.Join(w.secretsName(), secrets.JWTName)}
	for _, sv := range w.subvols[1:] {
		candidates = append(candidates, path.Join(sv, secrets.JWTName))
	}
	exists := map[string]bool{}
	var value jwt.Secret
	source := ""
	for _, c := range candidates {
		data, err := os.ReadFile(w.abs(c))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		exists[c] = true
		if err != nil {
			continue
		}
		if j, err := jwt.Parse(data); err == nil && source == "" {
			value, source = j, c
		}
	}
	targets := w.jwtTargets()
	if w.rotate {
		for _, c := range candidates {
			if exists[c] && !slices.Contains(targets, c) {
				targets = append(targets, c) // a stale copy would then differ
			}
		}
		source = ""
	}
	if source == "" {
		j, err := jwt.Generate()
		if err != nil {
			return err
		}
		value = j
	}
	for _, t := range targets {
		if exists[t] && !w.rotate {
			w.printf("jwt: %s kept", t)
			continue
		}
		if err := atomicfile.WriteFile(w.abs(t), value.Encode(), 0o600); err != nil {
			return err
		}
		switch {
		case source == "":
			what := "generated"
			if w.rotate && exists[t] {
				what = "replaced with a new secret (--rotate)"
			}
			w.printf("jwt: %s %s", t, what)
			source = t
		default:
			w.printf("jwt: %s written (the same secret as %s)", t, source)
		}
	}
	return nil
}

// writeHostKey makes the SSH host key with the init's code when absent;
// with rotate it replaces an existing one.
func (w *secretWriter) writeHostKey() error {
	dir := w.abs(w.secretsName())
	rel := path.Join(w.secretsName(), secrets.HostKey)
	p := filepath.Join(dir, secrets.HostKey)
	if _, err := os.Stat(p); err == nil && w.rotate {
		priv, pub, fp, err := hostkey.Generate(hostKeyComment)
		if err != nil {
			return err
		}
		if err := atomicfile.WriteFile(p, priv, 0o600); err != nil {
			return err
		}
		if err := atomicfile.WriteFile(p+".pub", pub, 0o644); err != nil {
			return err
		}
		w.printf("ssh host key: %s replaced with a new key (--rotate): %s", rel, fp)
		return nil
	}
	fp, generated, err := secrets.EnsureHostKey(dir, hostKeyComment)
	if err != nil {
		return fmt.Errorf("SSH host key %s: %v", rel, err)
	}
	if generated {
		w.printf("ssh host key: %s generated: %s", rel, fp)
	} else {
		w.printf("ssh host key: %s kept", rel)
	}
	return nil
}

// writeWireGuard writes wg0.conf from the flags, or keeps the one there.
// It returns whether a wg0.conf exists afterwards.
func (w *secretWriter) writeWireGuard(f *wgFlags, v *wgValues) (bool, error) {
	sn := w.secretsName()
	legacy, current := path.Join(sn, secrets.WGLegacy), path.Join(sn, secrets.WGCurrent)
	_, errL := os.Stat(w.abs(legacy))
	_, errC := os.Stat(w.abs(current))
	existing := ""
	switch {
	case errL == nil && errC == nil:
		w.printf("warning: wireguard: both %s and %s exist; both are left alone, see the check below", legacy, current)
		return true, nil
	case errL == nil:
		existing = legacy
	case errC == nil:
		existing = current
	}

	if existing != "" && !w.rotate {
		w.printf("wireguard: %s kept", existing)
		if f.given() {
			w.printf("warning: wireguard: the --wg flags were ignored, since %s exists and is kept; --rotate replaces its key pair and applies them", existing)
		}
		return true, nil
	}
	if existing == "" && !f.given() {
		w.printf("notice: wireguard: no wg0.conf written (no --wg-address and --wg-peer-public-key): the init needs one unless booted with homestaker.wg=off; run prepare again with the --wg flags to add it")
		return false, nil
	}

	target := existing
	var base *wgconf.Config
	if existing != "" {
		data, err := os.ReadFile(w.abs(existing))
		if err != nil {
			return true, err
		}
		if base, _, err = wgconf.Parse(w.abs(existing), data); err != nil {
			if !f.set["wg-address"] || !f.set["wg-peer-public-key"] {
				return true, fmt.Errorf("wireguard: --rotate keeps the addresses and peers of %s, but it does not parse (%v): fix it, or give --wg-address and --wg-peer-public-key to replace it", existing, err)
			}
			w.printf("warning: wireguard: %s does not parse (%v); replacing it from the flags", existing, err)
			base = nil
		}
	} else {
		target = current
		if w.layout == "legacy" {
			target = legacy
		}
	}

	priv, err := wgconf.GeneratePrivateKey()
	if err != nil {
		return existing != "", err
	}
	cfg, notes, err := buildWGConfig(priv, f, v, base)
	if err != nil {
		return existing != "", err
	}
	for _, n := range notes {
		w.printf("warning: wireguard: %s", n)
	}
	data := wgconf.Marshal(cfg)
	// Parse what is about to be written, as the init will, so that a
	// file the init would refuse never reaches the disk.
	p := w.abs(target)
	parsed, warns, err := wgconf.Parse(p, data)
	if err != nil {
		return existing != "", fmt.Errorf("wireguard: the generated %s does not parse: %v", target, err)
	}
	for _, wn := range warns {
		w.printf("warning: wireguard: %s", wn)
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return existing != "", err
	}
	if err := atomicfile.WriteFile(p, data, 0o600); err != nil {
		return existing != "", err
	}
	what := "generated"
	if existing != "" {
		what = "replaced (new key pair, --rotate)"
	}
	w.printf("wireguard: %s %s: public key %s, %d peer(s)", target, what, parsed.PublicKey(), len(parsed.Peers))
	return true, nil
}
