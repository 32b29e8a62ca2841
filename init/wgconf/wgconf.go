// Package wgconf is the one reader and writer of wg-quick configuration
// files (wg0.conf) in this project: the init's secrets and WireGuard stages
// and the operator's CLI all parse through it, so they agree on what a
// valid file is. It works on bytes only and never prints a secret.
package wgconf

import (
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
)

// Config is a parsed wg-quick file. Its keys are Key values: never print
// the private or preshared ones (Config, Interface and Peer format and
// marshal to JSON without them).
type Config struct {
	Name      string // interface name: the file's base name without ".conf"
	Interface Interface
	Peers     []Peer
}

// Interface is the [Interface] section. The fields after FwMarkSet are
// wg-quick's own; wg(8) does not know them.
type Interface struct {
	PrivateKey Key
	ListenPort int // 0: unset (a random port)
	FwMark     uint32
	FwMarkSet  bool // FwMark was given (0 when "off")

	Addresses  []netip.Prefix // bare addresses become /32 or /128
	DNS        []netip.Addr
	DNSSearch  []string // DNS entries that are not IP addresses, as wg-quick treats them
	MTU        int      // 0: unset
	Table      string   // "", "off", "auto" or a table number in decimal
	Hooks      []Hook   // PreUp, PostUp, PreDown, PostDown, in file order; the init never runs them
	SaveConfig bool

	Line int // line of [Interface]
}

// Peer is one [Peer] section.
type Peer struct {
	PublicKey           Key
	PresharedKey        *Key           // nil: none
	AllowedIPs          []netip.Prefix // masked, as wg(8) stores them
	Endpoint            *Endpoint      // nil: the peer has to contact us first
	PersistentKeepalive int            // seconds; 0: off

	Line int // line of [Peer]
}

// Endpoint is a peer's Endpoint. Host may be a name that the caller must
// resolve (wireguard-go takes IP literals only).
type Endpoint struct {
	Host string // hostname or IP literal (canonical form), without brackets
	Port uint16
}

// String returns host:port, with brackets around an IPv6 host.
func (e Endpoint) String() string {
	return net.JoinHostPort(e.Host, strconv.Itoa(int(e.Port)))
}

// AddrPort returns the endpoint as an address and port when Host is an IP
// literal, and false when it is a name to resolve.
func (e Endpoint) AddrPort() (netip.AddrPort, bool) {
	a, err := netip.ParseAddr(e.Host)
	if err != nil {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(a, e.Port), true
}

// Hook is a PreUp, PostUp, PreDown or PostDown line. It is kept so that
// the init can say it did not run it. Command may contain secrets (people
// feed keys to wg set through hooks): do not print it.
type Hook struct {
	Kind    string // "PreUp", "PostUp", "PreDown" or "PostDown"
	Command string
	Line    int
}

// PublicKey returns the interface's public key, the value the other side
// puts in its [Peer] section.
func (c *Config) PublicKey() Key { return c.Interface.PrivateKey.PublicKey() }

// ParseError says where a wg-quick file is wrong. Line is 1-based, 0 when
// the problem is the file as a whole; Key is the key concerned, in its
// canonical spelling, or "". Msg never holds a private or preshared key.
type ParseError struct {
	File string
	Line int
	Key  string
	Msg  string
}

func (e *ParseError) Error() string { return position(e.File, e.Line, e.Key) + e.Msg }

// Warning is something that is not wrong to wg-quick but that the operator
// should know about, located like a ParseError.
type Warning struct {
	File string
	Line int
	Key  string
	Msg  string
}

func (w Warning) String() string { return position(w.File, w.Line, w.Key) + w.Msg }

// position renders "FILE:LINE: KEY: ", leaving out what is unknown.
func position(file string, line int, key string) string {
	var b strings.Builder
	b.WriteString(file)
	if line > 0 {
		b.WriteString(":")
		b.WriteString(strconv.Itoa(line))
	}
	b.WriteString(": ")
	if key != "" {
		b.WriteString(key)
		b.WriteString(": ")
	}
	return b.String()
}

// InterfaceName returns the interface name that wg-quick derives from a
// configuration file's path: its base name without ".conf", 1 to 15 of
// [a-zA-Z0-9_=+.-] (the kernel's limit, IFNAMSIZ-1).
func InterfaceName(path string) (string, error) {
	base := filepath.Base(path)
	name, ok := strings.CutSuffix(base, ".conf")
	if !ok {
		return "", &ParseError{File: path, Msg: fmt.Sprintf("file name %s does not end in .conf: wg-quick names the interface after the file (wg0.conf is wg0)", quote(base))}
	}
	if name == "" || len(name) > 15 || name == "." || name == ".." || strings.IndexFunc(name, func(r rune) bool { return !isNameChar(r) }) >= 0 {
		return "", &ParseError{File: path, Msg: fmt.Sprintf("interface name %s (the file name without .conf) must be 1 to 15 of the characters a-z A-Z 0-9 _ = + . -", quote(name))}
	}
	return name, nil
}

func isNameChar(r rune) bool {
	return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || strings.ContainsRune("_=+.-", r)
}

// CheckMode returns a warning when group or others have any access to the
// file: it holds the private key. wg-quick warns only when it is world
// accessible; group access is flagged too since only root needs the file.
// The caller stats the file.
func CheckMode(name string, mode fs.FileMode) *Warning {
	perm := mode.Perm()
	switch {
	case perm&0o044 != 0:
		return &Warning{File: name, Msg: fmt.Sprintf("mode %04o lets group or others read the WireGuard private key: chmod 600 it", perm)}
	case perm&0o033 != 0:
		return &Warning{File: name, Msg: fmt.Sprintf("mode %04o lets group or others change or use it: chmod 600 it", perm)}
	}
	return nil
}
