package wgconf

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/homestaker/homestaker-boot/init/typo"
)

// maxQuote bounds text quoted from the file so a message fits a console
// line or two.
const maxQuote = 64

// minSecretRun is the shortest run of base64 (or hex) characters that
// Redact hides. A key is 43 base64 characters and '=', or 64 hex digits;
// hiding shorter runs too means that even a key with a few characters
// missing or added never reaches a message.
const minSecretRun = 40

// Redact replaces every run of minSecretRun or more base64 characters
// (hex digits are among them) in s by "<hidden>": such a run may be a
// private or preshared key, in wg-quick's base64 or the UAPI's hex.
func Redact(s string) string {
	var b strings.Builder
	run, start := 0, 0 // the length and start of the base64 run ending at i
	flush := func(end int) {
		if run >= minSecretRun {
			b.WriteString("<hidden>")
		} else {
			b.WriteString(s[start:end])
		}
		run = 0
	}
	for i, r := range s {
		if isBase64(r) || r == '=' {
			if run == 0 {
				start = i
			}
			run++
			continue
		}
		if run > 0 {
			flush(i)
		}
		b.WriteRune(r)
	}
	if run > 0 {
		flush(len(s))
	}
	return b.String()
}

// maxNameShown bounds a section or key name that a message repeats.
const maxNameShown = 24

// quoteName renders a section header from the file for a message only
// when it is close to [Interface] or [Peer]: any other line may be part of
// a key split over lines, and is not shown.
func quoteName(line string) string {
	name := strings.ToLower(strings.TrimSpace(strings.Trim(line, "[] \t")))
	if len(line) <= maxNameShown && (typo.Distance(name, "interface", 3) <= 2 || typo.Distance(name, "peer", 2) <= 1) {
		return strconv.Quote(line)
	}
	return "(a line not shown: it may hold part of a key)"
}

// quote renders text from the file for a message: redacted, quoted, and
// at most maxQuote characters.
func quote(s string) string {
	out := Redact(s)
	if utf8.RuneCountInString(out) > maxQuote {
		n := 0
		for i := range out {
			if n == maxQuote-3 {
				out = out[:i] + "..."
				break
			}
			n++
		}
	}
	return strconv.Quote(out)
}

// The views below are what fmt and encoding/json see of an Interface and a
// Peer: everything but the private and preshared keys and the hook
// commands (which may embed keys). Without them a %v of a Config, or a
// Config put into the boot report, would print the private key.

type interfaceView struct {
	PublicKey  string         `json:"public_key,omitempty"` // derived from the private key
	ListenPort int            `json:"listen_port,omitempty"`
	FwMark     uint32         `json:"fwmark,omitempty"`
	FwMarkSet  bool           `json:"fwmark_set,omitempty"`
	Addresses  []netip.Prefix `json:"addresses,omitempty"`
	DNS        []netip.Addr   `json:"dns,omitempty"`
	DNSSearch  []string       `json:"dns_search,omitempty"`
	MTU        int            `json:"mtu,omitempty"`
	Table      string         `json:"table,omitempty"`
	Hooks      []string       `json:"hooks,omitempty"` // "PostUp@12": kind and line only
	SaveConfig bool           `json:"save_config,omitempty"`
	Line       int            `json:"line,omitempty"`
}

type peerView struct {
	PublicKey           string         `json:"public_key"`
	PresharedKey        bool           `json:"preshared_key"` // whether there is one
	AllowedIPs          []netip.Prefix `json:"allowed_ips"`
	Endpoint            string         `json:"endpoint,omitempty"`
	PersistentKeepalive int            `json:"persistent_keepalive,omitempty"`
	Line                int            `json:"line,omitempty"`
}

func (i Interface) view() interfaceView {
	v := interfaceView{
		ListenPort: i.ListenPort, FwMark: i.FwMark, FwMarkSet: i.FwMarkSet,
		Addresses: i.Addresses, DNS: i.DNS, DNSSearch: i.DNSSearch,
		MTU: i.MTU, Table: i.Table, SaveConfig: i.SaveConfig, Line: i.Line,
	}
	if !i.PrivateKey.IsZero() {
		v.PublicKey = i.PrivateKey.PublicKey().String()
	}
	for _, h := range i.Hooks {
		v.Hooks = append(v.Hooks, h.Kind+"@"+strconv.Itoa(h.Line))
	}
	return v
}

func (p Peer) view() peerView {
	v := peerView{
		PublicKey:           p.PublicKey.String(),
		PresharedKey:        p.PresharedKey != nil,
		AllowedIPs:          p.AllowedIPs,
		PersistentKeepalive: p.PersistentKeepalive,
		Line:                p.Line,
	}
	if p.Endpoint != nil {
		v.Endpoint = p.Endpoint.String()
	}
	return v
}

// Format prints the interface without its private key (its public key
// instead) and without hook commands, whatever the verb.
func (i Interface) Format(f fmt.State, verb rune) {
	fmt.Fprintf(f, fmt.FormatString(f, verb), i.view())
}

// MarshalJSON encodes the interface without its private key (its public
// key instead) and without hook commands.
func (i Interface) MarshalJSON() ([]byte, error) { return json.Marshal(i.view()) }

// Format prints the peer without its preshared key, whatever the verb.
func (p Peer) Format(f fmt.State, verb rune) {
	fmt.Fprintf(f, fmt.FormatString(f, verb), p.view())
}

// MarshalJSON encodes the peer without its preshared key.
func (p Peer) MarshalJSON() ([]byte, error) { return json.Marshal(p.view()) }
