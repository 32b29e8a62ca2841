package rescue

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/crypto/ssh"

	"github.com/homestaker/homestaker-boot/init/report"
	"github.com/homestaker/homestaker-boot/init/volfile"
)

// maxKeyFile bounds a host key or authorized_keys file: it is read whole
// from the volume, which is hostile input.
const maxKeyFile = 1 << 20

// LoadHostKey reads the node's SSH identity: an unencrypted OpenSSH
// private key file. Its errors name the file and never quote it.
func LoadHostKey(path string) (ssh.Signer, error) {
	b, err := volfile.ReadFileAt(path, maxKeyFile)
	if err != nil {
		return nil, hostKeyFail(path, readFound(err), "create it with: ssh-keygen -t ed25519 -N '' -f "+path)
	}
	signer, err := ssh.ParsePrivateKey(b)
	var missing *ssh.PassphraseMissingError
	switch {
	case errors.As(err, &missing):
		return nil, hostKeyFail(path, "a key encrypted with a passphrase", "remove the passphrase, the node has no one to type it: ssh-keygen -p -N '' -f "+path)
	case err != nil:
		// ssh's parse errors describe the format, not the key bytes.
		return nil, hostKeyFail(path, "no usable private key ("+err.Error()+")", "replace it with a key from: ssh-keygen -t ed25519 -N '' -f "+path)
	}
	return signer, nil
}

func hostKeyFail(path, found, action string) error {
	return report.Fail("the rescue SSH host key in "+path+" (an OpenSSH private key)", found, action)
}

// readFound says why a file could not be read, without repeating its path.
func readFound(err error) string {
	var pe *fs.PathError
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "no such file"
	case errors.As(err, &pe):
		return pe.Op + ": " + pe.Err.Error()
	}
	return err.Error()
}

// authorizedKey is one usable line of an authorized_keys file.
type authorizedKey struct {
	key   ssh.PublicKey
	blob  []byte         // key.Marshal(), what a login is compared by
	from  []netip.Prefix // the from= option; empty: any source
	noPTY bool           // no-pty, or restrict without a later pty
	where string         // file:line, for the log
}

// admits reports whether the line lets a login from addr in.
func (k authorizedKey) admits(addr netip.Addr) bool {
	if len(k.from) == 0 {
		return true
	}
	for _, p := range k.from {
		if p.Contains(addr.Unmap().WithZone("")) {
			return true
		}
	}
	return false
}

// LoadAuthorizedKeys reads the public keys in paths, each an OpenSSH
// authorized_keys file or a directory whose regular files all are. A
// missing path is skipped silently; a line that is malformed, or that
// carries a restriction the rescue server cannot honour, is skipped with a
// warning naming file:line. The error joins the files that could not be
// read; the keys of the others are returned with it. Keys restricted by
// from= are included: the server checks the source address at login.
func LoadAuthorizedKeys(paths []string, warn func(format string, args ...any)) ([]ssh.PublicKey, error) {
	keys, err := loadAuthorized(paths, warn)
	out := make([]ssh.PublicKey, len(keys))
	for i, k := range keys {
		out[i] = k.key
	}
	return out, err
}

func loadAuthorized(paths []string, warn func(format string, args ...any)) ([]authorizedKey, error) {
	if warn == nil {
		warn = func(string, ...any) {}
	}
	var keys []authorizedKey
	var errs []error
	for _, p := range paths {
		files, err := authorizedFiles(p)
		if err != nil {
			errs = append(errs, err)
		}
		for _, f := range files {
			b, err := volfile.ReadFileAt(f, maxKeyFile)
			if err != nil {
				errs = append(errs, fmt.Errorf("authorized keys %s: %s", f, readFound(err)))
				continue
			}
			keys = append(keys, parseAuthorizedKeys(f, b, warn)...)
		}
	}
	return keys, errors.Join(errs...)
}

// authorizedFiles lists the files path stands for: itself, or the regular
// files in it (following symbolic links), sorted. A missing path is none.
func authorizedFiles(path string) ([]string, error) {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("authorized keys %s: %s", path, readFound(err))
	case !fi.IsDir():
		return []string{path}, nil
	}
	ents, err := os.ReadDir(path)
	if err != nil {
		return nil, fmt.Errorf("authorized keys directory %s: %s", path, readFound(err))
	}
	var files []string
	for _, e := range ents {
		f := filepath.Join(path, e.Name())
		if fi, err := os.Stat(f); err == nil && fi.Mode().IsRegular() {
			files = append(files, f)
		}
	}
	sort.Strings(files)
	return files, nil
}

// parseAuthorizedKeys parses the authorized_keys text b read from name.
// Warnings name the line and never quote it: a misplaced private key
// would otherwise reach the log.
func parseAuthorizedKeys(name string, b []byte, warn func(format string, args ...any)) []authorizedKey {
	var keys []authorizedKey
	for i, line := range bytes.Split(b, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		where := fmt.Sprintf("%s:%d", name, i+1)
		k, problem := parseAuthorizedLine(line)
		if problem != "" {
			warn("%s: %s; line skipped", where, problem)
			continue
		}
		k.where = where
		keys = append(keys, k)
	}
	return keys
}

// What a warning says about a skipped line: fixed texts, so that no part
// of the line reaches the log.
const (
	malformedLine = "not an authorized_keys line ([options] type base64-key [comment])"
	fromPatterns  = "from= lists host names or patterns; the rescue server checks only IP addresses and CIDR ranges"
)

// unhonoured says that option limits a key in a way the server cannot.
func unhonoured(option string) string {
	return "the " + option + " option limits this key in a way the rescue server does not honour; add a line without it for rescue logins"
}

// unknownOption is what a warning says of an option OpenSSH does not
// document: its name comes from the line, so it is not quoted.
const unknownOption = "an option that sshd(8) does not document; add a line without it for rescue logins"

// The authorized_keys options of sshd(8), by what the rescue server does
// with each. It offers only sessions (a shell or a command), never
// forwarding, agents, X11, tunnels or ~/.ssh/rc, so the options that forbid
// those hold by construction, and the ones that grant them grant nothing.
// Every other option, known or not, skips the line: a restriction that is
// not honoured must not become a root shell.
var vacuousOptions = map[string]bool{
	"no-port-forwarding": true, "no-agent-forwarding": true, "no-x11-forwarding": true, "no-user-rc": true,
	"port-forwarding": true, "agent-forwarding": true, "x11-forwarding": true, "user-rc": true,
}

var unhonouredOptions = map[string]bool{
	"command": true, "expiry-time": true, "principals": true, "cert-authority": true,
	"environment": true, "permitopen": true, "permitlisten": true, "tunnel": true,
	"verify-required": true, "no-touch-required": true,
}

// parseAuthorizedLine parses one non-empty, non-comment line, or says
// what is wrong with it. Options apply in order, as in sshd: restrict
// forbids a PTY, a later pty allows it again.
func parseAuthorizedLine(line []byte) (authorizedKey, string) {
	key, _, opts, rest, err := ssh.ParseAuthorizedKey(line)
	if err != nil || len(bytes.TrimSpace(rest)) > 0 {
		return authorizedKey{}, malformedLine
	}
	k := authorizedKey{key: key, blob: key.Marshal()}
	for _, o := range opts {
		name, value, _ := strings.Cut(o, "=")
		name = strings.ToLower(name)
		switch {
		case name == "from":
			from, ok := parseFrom(unquote(value))
			if !ok {
				return authorizedKey{}, fromPatterns
			}
			k.from = from
		case name == "restrict", name == "no-pty":
			k.noPTY = true
		case name == "pty":
			k.noPTY = false
		case vacuousOptions[name]:
		case unhonouredOptions[name]:
			// Ignoring these would let the key in further than
			// its owner meant; the rescue server gives a shell.
			return authorizedKey{}, unhonoured(name)
		default:
			return authorizedKey{}, unknownOption
		}
	}
	return k, ""
}

// parseFrom parses a from= list made only of IP addresses and CIDR
// ranges. Wildcards, negations and host names are refused rather than
// half-understood.
func parseFrom(list string) ([]netip.Prefix, bool) {
	var out []netip.Prefix
	for _, f := range strings.Split(list, ",") {
		f = strings.TrimSpace(f)
		if p, err := netip.ParsePrefix(f); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil || a.Zone() != "" {
			return nil, false
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, len(out) > 0
}

// unquote strips an option value's double quotes and \" escapes.
func unquote(v string) string {
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		v = v[1 : len(v)-1]
	}
	return strings.ReplaceAll(v, `\"`, `"`)
}
