package wgconf

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/homestaker/homestaker-boot/init/typo"
)

// The keys each section knows, in their canonical spelling. Matching is
// case-insensitive, as in wg(8) and wg-quick(8).
var (
	interfaceKeys = []string{"PrivateKey", "ListenPort", "FwMark", "Address", "DNS", "MTU", "Table", "PreUp", "PostUp", "PreDown", "PostDown", "SaveConfig"}
	peerKeys      = []string{"PublicKey", "PresharedKey", "AllowedIPs", "Endpoint", "PersistentKeepalive"}
)

// repeatable keys accumulate; any other key given twice in a section is an
// error (wg(8) would silently keep the last one).
var repeatable = map[string]bool{
	"Address": true, "DNS": true, "AllowedIPs": true,
	"PreUp": true, "PostUp": true, "PreDown": true, "PostDown": true,
}

type section int

const (
	noSection section = iota
	interfaceSection
	peerSection
)

func (s section) String() string {
	if s == peerSection {
		return "[Peer]"
	}
	return "[Interface]"
}

// lookupKey returns the canonical spelling of a key and its section, or ""
// when no section knows it.
func lookupKey(k string) (string, section) {
	for _, c := range interfaceKeys {
		if strings.EqualFold(k, c) {
			return c, interfaceSection
		}
	}
	for _, c := range peerKeys {
		if strings.EqualFold(k, c) {
			return c, peerSection
		}
	}
	return "", noSection
}

// peerState is what the parser remembers about a [Peer] beyond the Peer.
type peerState struct {
	seen           map[string]int // key -> first line
	allowedIPsLine int            // first AllowedIPs line, 0 if none
}

type parser struct {
	file      string
	cfg       Config
	warnings  []Warning
	sec       section
	ifaceSeen map[string]int       // key -> first line in [Interface]
	peers     []peerState          // parallel to cfg.Peers
	byKey     map[Key]int          // public key -> index in cfg.Peers
	routes    map[netip.Prefix]int // AllowedIPs prefix -> index in cfg.Peers
}

// Parse parses the wg-quick file at path name (used for the interface name
// and in messages) whose contents are data. It returns the configuration
// and what the operator should be warned about, or the first error, a
// *ParseError. Warnings found before an error are returned with it. No
// message ever holds a private or preshared key.
func Parse(name string, data []byte) (*Config, []Warning, error) {
	ifname, err := InterfaceName(name)
	if err != nil {
		return nil, nil, err
	}
	p := &parser{
		file:   name,
		byKey:  map[Key]int{},
		routes: map[netip.Prefix]int{},
	}
	p.cfg.Name = ifname
	if err := p.parseLines(string(data)); err != nil {
		return nil, p.sortedWarnings(), err
	}
	if err := p.finish(); err != nil {
		return nil, p.sortedWarnings(), err
	}
	return &p.cfg, p.sortedWarnings(), nil
}

func (p *parser) parseLines(text string) error {
	// A UTF-8 byte order mark, which some Windows editors write: not text.
	text = strings.TrimPrefix(text, "\ufeff")
	for i, line := range strings.Split(text, "\n") {
		// wg-quick cuts at the first '#', wherever it is, and trims.
		if j := strings.IndexByte(line, '#'); j >= 0 {
			line = line[:j]
		}
		line = strings.TrimSpace(line)
		var err error
		switch {
		case line == "":
			continue
		case line[0] == '[':
			err = p.sectionHeader(i+1, line)
		default:
			err = p.keyValue(i+1, line)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (p *parser) sectionHeader(num int, line string) error {
	if len(line) < 2 || line[len(line)-1] != ']' {
		return p.errorf(num, "", "%s is not a section header: expected [Interface] or [Peer]", quoteName(line))
	}
	switch name := line[1 : len(line)-1]; {
	case strings.EqualFold(name, "Interface"):
		if first := p.cfg.Interface.Line; first != 0 {
			return p.errorf(num, "", "a second [Interface] section (the first is on line %d): a file configures one interface", first)
		}
		p.cfg.Interface.Line = num
		p.ifaceSeen = map[string]int{}
		p.sec = interfaceSection
	case strings.EqualFold(name, "Peer"):
		p.cfg.Peers = append(p.cfg.Peers, Peer{Line: num})
		p.peers = append(p.peers, peerState{seen: map[string]int{}})
		p.sec = peerSection
	default:
		return p.errorf(num, "", "unknown section %s: expected [Interface] or [Peer]", quoteName(line))
	}
	return nil
}

func (p *parser) keyValue(num int, line string) error {
	eq := strings.IndexByte(line, '=')
	if eq < 0 {
		if k, _ := lookupKey(strings.Fields(line)[0]); k != "" {
			return p.errorf(num, k, "no '=': expected %s = value", k)
		}
		return p.errorf(num, "", "expected [Interface], [Peer] or a Key = Value line")
	}
	raw, value := strings.TrimSpace(line[:eq]), strings.TrimSpace(line[eq+1:])
	if raw == "" {
		return p.errorf(num, "", "the line starts with '=': a key is missing")
	}
	key, sec := lookupKey(raw)
	switch {
	case key == "":
		return p.unknownKey(num, raw)
	case p.sec == noSection:
		return p.errorf(num, key, "outside any section: it belongs under %s", sec)
	case sec != p.sec:
		return p.errorf(num, key, "belongs in %s, not in %s", sec, p.sec)
	}
	seen := p.ifaceSeen
	if p.sec == peerSection {
		seen = p.peers[len(p.peers)-1].seen
	}
	if first, ok := seen[key]; ok && !repeatable[key] {
		return p.errorf(num, key, "given twice in this section (first on line %d)", first)
	} else if !ok {
		seen[key] = num
	}
	if value == "" && key != "AllowedIPs" {
		return p.errorf(num, key, "empty value")
	}
	if p.sec == interfaceSection {
		return p.interfaceKey(num, key, value)
	}
	return p.peerKey(num, key, value)
}

func (p *parser) unknownKey(num int, raw string) error {
	where := ""
	if p.sec != noSection {
		where = " in " + p.sec.String()
	}
	// Only a near miss of a known key is named: anything else left of
	// '=' may be the second half of a key split over two lines (a base64
	// key ends in '=').
	s := suggestKey(raw)
	if s == "" || len(raw) > maxNameShown || !isIdentifier(raw) {
		return p.errorf(num, "", "unknown key%s (wg(8) refuses unknown keys); its name is not shown, as it is close to no key of wg(8) or wg-quick(8) and may be part of a key", where)
	}
	return p.errorf(num, raw, "unknown key%s (wg(8) refuses unknown keys); did you mean %s?", where, s)
}

func (p *parser) interfaceKey(num int, key, value string) error {
	ifc := &p.cfg.Interface
	switch key {
	case "PrivateKey":
		k, err := ParseKey(value)
		if err != nil {
			return p.errorf(num, key, "%v", err)
		}
		if k.IsZero() {
			return p.errorf(num, key, "all zeros: generate a key (wg genkey, or homestaker prepare)")
		}
		ifc.PrivateKey = k
	case "ListenPort":
		n, err := strconv.ParseUint(value, 10, 16)
		if err != nil {
			return p.errorf(num, key, "%s is not a port number 0-65535", quote(value))
		}
		ifc.ListenPort = int(n)
	case "FwMark":
		m, ok := parseFwMark(value)
		if !ok {
			return p.errorf(num, key, "%s: expected off, a decimal number or 0x and hex digits (32 bits)", quote(value))
		}
		ifc.FwMark, ifc.FwMarkSet = m, true
	case "Address":
		for _, item := range listItems(value) {
			a, ok := parseIPOrPrefix(item)
			if !ok {
				return p.errorf(num, key, "%s is not an IP address or prefix (like 10.0.0.2/24 or fd00::2/64)", quote(item))
			}
			if a.Addr().IsUnspecified() || a.Addr().IsMulticast() {
				return p.errorf(num, key, "%s cannot be an interface's address", quote(item))
			}
			ifc.Addresses = append(ifc.Addresses, a)
		}
	case "DNS":
		for _, item := range listItems(value) {
			if a, err := netip.ParseAddr(item); err == nil && validZone(a.Zone()) {
				ifc.DNS = append(ifc.DNS, a)
				continue
			}
			if looksLikeIP(item) {
				return p.errorf(num, key, "%s is not an IP address", quote(item))
			}
			if !validHostname(item) {
				return p.errorf(num, key, "%s is neither an IP address nor a search domain", quote(item))
			}
			ifc.DNSSearch = append(ifc.DNSSearch, item)
		}
	case "MTU":
		n, err := strconv.ParseUint(value, 10, 32)
		if err != nil || n < minMTU || n > maxMTU {
			return p.errorf(num, key, "%s is not an MTU from %d to %d", quote(value), minMTU, maxMTU)
		}
		ifc.MTU = int(n)
	case "Table":
		t, ok := parseTable(value)
		if !ok {
			return p.errorf(num, key, "%s: expected off, auto or a routing table number", quote(value))
		}
		ifc.Table = t
	case "PreUp", "PostUp", "PreDown", "PostDown":
		ifc.Hooks = append(ifc.Hooks, Hook{Kind: key, Command: value, Line: num})
		p.warnf(num, key, "not run: the init runs no hook commands")
	case "SaveConfig":
		switch {
		case strings.EqualFold(value, "true"):
			ifc.SaveConfig = true
			p.warnf(num, key, "ignored: the init never writes the file back")
		case strings.EqualFold(value, "false"):
			ifc.SaveConfig = false
		default:
			return p.errorf(num, key, "%s is neither true nor false", quote(value))
		}
	}
	return nil
}

func (p *parser) peerKey(num int, key, value string) error {
	cur := len(p.cfg.Peers) - 1
	peer, st := &p.cfg.Peers[cur], &p.peers[cur]
	switch key {
	case "PublicKey":
		k, err := ParseKey(value)
		if err != nil {
			return p.errorf(num, key, "%v", err)
		}
		if k.IsZero() {
			return p.errorf(num, key, "all zeros: expected the other side's public key (wg pubkey)")
		}
		if j, ok := p.byKey[k]; ok {
			return p.errorf(num, key, "the same peer as the [Peer] on line %d: give each peer one section", p.cfg.Peers[j].Line)
		}
		p.byKey[k] = cur
		peer.PublicKey = k
	case "PresharedKey":
		k, err := ParseKey(value)
		if err != nil {
			return p.errorf(num, key, "%v", err)
		}
		if k.IsZero() {
			p.warnf(num, key, "all zeros, which WireGuard takes as no preshared key")
		}
		peer.PresharedKey = &k
	case "AllowedIPs":
		if st.allowedIPsLine == 0 {
			st.allowedIPsLine = num
		}
		if value == "" {
			return nil // warned about in finish if nothing else is allowed
		}
		for item := range strings.SplitSeq(value, ",") {
			item = strings.TrimSpace(item)
			if item == "" {
				return p.errorf(num, key, "an empty item in the list (a stray comma?)")
			}
			a, ok := parseIPOrPrefix(item)
			if !ok {
				return p.errorf(num, key, "%s is not an IP address or prefix (like 10.0.0.0/24 or fd00::/64)", quote(item))
			}
			if m := a.Masked(); m != a {
				p.warnf(num, key, "%s has host bits set; WireGuard uses %s", a, m)
				a = m
			}
			if j, ok := p.routes[a]; ok && j != cur {
				p.warnf(num, key, "%s is also in the AllowedIPs of the [Peer] on line %d; WireGuard gives it to this later peer only", a, p.cfg.Peers[j].Line)
			}
			p.routes[a] = cur
			peer.AllowedIPs = append(peer.AllowedIPs, a)
		}
	case "Endpoint":
		e, err := parseEndpoint(value)
		if err != nil {
			return p.errorf(num, key, "%v", err)
		}
		peer.Endpoint = &e
	case "PersistentKeepalive":
		n, ok := parseKeepalive(value)
		if !ok {
			return p.errorf(num, key, "%s: expected off or a number of seconds 0-65535", quote(value))
		}
		peer.PersistentKeepalive = n
	}
	return nil
}

// finish checks what needs the whole file, reporting the problem on the
// earliest line, and adds the warnings that need the whole file.
func (p *parser) finish() error {
	ifc := &p.cfg.Interface
	if ifc.Line == 0 {
		return &ParseError{File: p.file, Msg: "no [Interface] section: a wg-quick file needs one, with the interface's PrivateKey"}
	}
	var errs []*ParseError
	if _, ok := p.ifaceSeen["PrivateKey"]; !ok {
		errs = append(errs, p.errorf(ifc.Line, "PrivateKey", "missing from [Interface]: the interface needs its own private key"))
	}
	var own Key
	if !ifc.PrivateKey.IsZero() {
		own = ifc.PrivateKey.PublicKey()
	}
	for i, peer := range p.cfg.Peers {
		line, ok := p.peers[i].seen["PublicKey"]
		switch {
		case !ok:
			errs = append(errs, p.errorf(peer.Line, "PublicKey", "missing from this [Peer]: expected the other side's public key"))
		case peer.PublicKey == own:
			errs = append(errs, p.errorf(line, "PublicKey", "this is the interface's own public key (derived from its PrivateKey); a [Peer] takes the other side's public key"))
		}
	}
	if len(errs) > 0 {
		return slices.MinFunc(errs, func(a, b *ParseError) int { return cmp.Compare(a.Line, b.Line) })
	}

	if ifc.MTU != 0 && ifc.MTU < minIPv6MTU && slices.ContainsFunc(ifc.Addresses, func(a netip.Prefix) bool { return a.Addr().Is6() && !a.Addr().Is4In6() }) {
		p.warnf(p.ifaceSeen["MTU"], "MTU", "%d is below %d, the minimum for IPv6, and the interface has IPv6 addresses: IPv6 will not work over it", ifc.MTU, minIPv6MTU)
	}
	for i, peer := range p.cfg.Peers {
		if len(peer.AllowedIPs) > 0 {
			continue
		}
		line := p.peers[i].allowedIPsLine
		if line == 0 {
			line = peer.Line
		}
		if peer.Endpoint == nil {
			p.warnf(line, "AllowedIPs", "this peer has neither an Endpoint nor AllowedIPs: it routes nothing and will never be reached")
		} else {
			p.warnf(line, "AllowedIPs", "empty: this peer routes nothing (no traffic goes to it or is accepted from it)")
		}
	}
	return nil
}

func (p *parser) errorf(line int, key, format string, args ...any) *ParseError {
	return &ParseError{File: p.file, Line: line, Key: key, Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) warnf(line int, key, format string, args ...any) {
	p.warnings = append(p.warnings, Warning{File: p.file, Line: line, Key: key, Msg: fmt.Sprintf(format, args...)})
}

func (p *parser) sortedWarnings() []Warning {
	slices.SortStableFunc(p.warnings, func(a, b Warning) int { return cmp.Compare(a.Line, b.Line) })
	return p.warnings
}

// suggestKey returns the known key closest to a misspelt one, or "".
func suggestKey(k string) string {
	best, bestDist := "", 3
	if len(k) < 5 {
		bestDist = 2
	}
	for _, c := range slices.Concat(interfaceKeys, peerKeys) {
		if d := typo.Distance(strings.ToLower(k), strings.ToLower(c), bestDist); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

// isIdentifier reports whether a key is short and plain enough to name in
// ParseError.Key as it is (and so cannot hold a key's 43 characters).
func isIdentifier(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for i, r := range s {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || i > 0 && '0' <= r && r <= '9') {
			return false
		}
	}
	return true
}
