package config

import (
	"fmt"
	"net/netip"
	"net/url"
	"path"
	"strconv"
	"strings"

	"time"

	"github.com/homestaker/homestaker-boot/init/hostname"
	"github.com/homestaker/homestaker-boot/init/typo"
)

// keySpec is one homestaker.* parameter. set applies a value to c, or
// leaves c alone and returns false and what is wrong ("" when the value is
// simply not one of the accepted ones).
type keySpec struct {
	name     string
	accepted string
	set      func(c *Config, v string) (string, bool)
}

const (
	maxTimeout      = 3600  // seconds; an hour is already far beyond any sane stage
	maxRebootDelay  = 86400 // seconds
	maxTries        = 100
	maxNameBytes    = 255 // Btrfs label and subvolume name limit
	ipAccepted      = "accepted values are dhcp, on, any, off, none, dhcp6, auto6, <device>:<method>[:[<mtu>][:<macaddr>]] or <client-ip>:[<server-ip>]:<gw-ip>:<netmask>:<hostname>:<device>:<autoconf>[:<dns0>[:<dns1>[:<ntp0>]]]"
	timeoutAccepted = "accepted values are whole seconds from 1 to 3600"
)

var keys = []keySpec{
	{"homestaker.label", "accepted values are a Btrfs label of 1 to 255 bytes without control characters", setLabel},
	{"homestaker.mnt", "accepted values are an absolute clean directory path other than /, e.g. /mnt or /var/mnt", setMnt},
	{"homestaker.subvols", "accepted values are comma-separated subvolume names, the secrets subvolume first, e.g. secrets,erigon,lighthouse; each name once, 1 to 255 bytes, not . or .., without / or control characters", setSubvols},
	{"homestaker.wg", "accepted values are required, optional, off", setWG},
	{"homestaker.next", "accepted values are comma-separated sources, each volume:/PATH, initramfs:/PATH, or an http:// or https:// URL with a host", setNext},
	{"homestaker.verify", "accepted values are signature, checksum, off, auto", setVerify},
	{"homestaker.handover", "accepted values are kexec, switchroot", setHandover},
	{"homestaker.onfail", "accepted values are shell, reboot, reboot:SECONDS (0 to 86400), poweroff", setOnFail},
	{"homestaker.break", "accepted values are " + strings.Join(Stages, ", "), setBreak},
	{"homestaker.degraded", "accepted values are ok, off, no", setDegraded},
	{"homestaker.timeout.net", timeoutAccepted, func(c *Config, v string) (string, bool) { return setTimeout(&c.Timeouts.Net, v) }},
	{"homestaker.timeout.wg", timeoutAccepted, func(c *Config, v string) (string, bool) { return setTimeout(&c.Timeouts.WG, v) }},
	{"homestaker.timeout.disk", timeoutAccepted, func(c *Config, v string) (string, bool) { return setTimeout(&c.Timeouts.Disk, v) }},
	{"homestaker.timeout.secrets", timeoutAccepted, func(c *Config, v string) (string, bool) { return setTimeout(&c.Timeouts.Secrets, v) }},
	{"homestaker.ntp", "accepted values are comma-separated host names or IP addresses (IPv6 may be in brackets)", setNTP},
	{"homestaker.rescue", "accepted values are ssh, off, auto", setRescue},
	{"homestaker.rescue.port", "accepted values are 1 to 65535", setRescuePort},
	{"homestaker.tries", "accepted values are 1 to 100", setTries},
	{"homestaker.watchdog", "accepted values are whole seconds from 1 to 3600, or 0 or off to disable it", setWatchdog},
	{"homestaker.watchdog.kexec", "accepted values are keep (the next system's watchdog daemon takes it over) or stop", setWatchdogKexec},
	{"homestaker.report", "accepted values are an absolute path", setReport},
	{"homestaker.tree", "accepted values are an absolute path", setTree},
	{"homestaker.log", logAccepted, setLog},
	{"homestaker.snapshot", "accepted values are off, or comma-separated names of homestaker.subvols to snapshot before a new tree's first boot, e.g. erigon,lighthouse", setSnapshot},
	{"homestaker.snapshot.keep", "accepted values are 1 to 100 snapshot sets", setSnapshotKeep},
	{"homestaker.rollback", "accepted values are on, off", setRollback},
}

// KnownKeys returns the names of the homestaker.* parameters.
func KnownKeys() []string {
	names := make([]string, len(keys))
	for i, k := range keys {
		names[i] = k.name
	}
	return names
}

func lookupKey(name string) *keySpec {
	for i := range keys {
		if keys[i].name == name {
			return &keys[i]
		}
	}
	return nil
}

// apply sets v on c, or returns what is wrong and what is accepted.
func (k *keySpec) apply(c *Config, v string) (problem string) {
	reason, ok := k.set(c, v)
	switch {
	case ok:
		return ""
	case reason == "":
		return k.accepted
	}
	return reason + "; " + k.accepted
}

func setLabel(c *Config, v string) (string, bool) {
	if r := checkName(v); r != "" {
		return r, false
	}
	c.Label, c.LabelSet = v, true
	return "", true
}

func setMnt(c *Config, v string) (string, bool) {
	switch {
	case !strings.HasPrefix(v, "/"):
		return "not an absolute path", false
	case path.Clean(v) != v:
		return fmt.Sprintf("not a clean path (did you mean %s?)", path.Clean(v)), false
	case v == "/":
		return "the root directory", false
	case hasControl(v):
		return "contains a control character", false
	}
	c.Mnt = v
	return "", true
}

func setSubvols(c *Config, v string) (string, bool) {
	names := strings.Split(v, ",")
	for i, n := range names {
		if r := checkName(n); r != "" {
			return fmt.Sprintf("subvolume %d %q: %s", i+1, n, r), false
		}
		switch {
		case n == "." || n == "..":
			return fmt.Sprintf("subvolume %d %q is not a name", i+1, n), false
		case strings.Contains(n, "/"):
			return fmt.Sprintf("subvolume %d %q contains /", i+1, n), false
		}
		for _, m := range names[:i] {
			if m == n {
				return fmt.Sprintf("subvolume %q appears twice", n), false
			}
		}
	}
	c.Subvols = names
	return "", true
}

// checkName checks a Btrfs label or subvolume name.
func checkName(n string) string {
	switch {
	case n == "":
		return "empty"
	case len(n) > maxNameBytes:
		return "longer than 255 bytes"
	case hasControl(n):
		return "contains a control character"
	}
	return ""
}

func setWG(c *Config, v string) (string, bool) {
	i := enumIndex(wgNames, v)
	if i < 0 {
		return "", false
	}
	c.WG = WGMode(i)
	return "", true
}

func setNext(c *Config, v string) (string, bool) {
	var srcs []Source
	for i, s := range strings.Split(v, ",") {
		src, r := parseSource(s)
		if r != "" {
			return fmt.Sprintf("source %d %q: %s", i+1, s, r), false
		}
		srcs = append(srcs, src)
	}
	c.Next = srcs
	return "", true
}

func parseSource(s string) (Source, string) {
	for _, k := range []SourceKind{SourceVolume, SourceInitramfs} {
		if p, ok := strings.CutPrefix(s, k.String()+":"); ok {
			clean, r := absPath(p)
			if r != "" {
				return Source{}, r
			}
			return Source{Kind: k, Path: clean, Raw: s}, ""
		}
	}
	if s == "" {
		return Source{}, "empty"
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return Source{}, "not a kind of source"
	}
	switch {
	case u.Hostname() == "":
		return Source{}, "the URL has no host"
	case strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f }):
		return Source{}, "the URL contains a space or control character (percent-encode it)"
	}
	return Source{Kind: SourceHTTP, URL: s, Raw: s}, ""
}

// absPath checks an absolute path that must not climb above / with "..",
// and returns it cleaned.
func absPath(p string) (string, string) {
	if !strings.HasPrefix(p, "/") {
		return "", "not an absolute path"
	}
	if hasControl(p) {
		return "", "contains a control character"
	}
	depth := 0
	for _, e := range strings.Split(p, "/") {
		switch e {
		case "", ".":
		case "..":
			if depth--; depth < 0 {
				return "", "climbs above / with .."
			}
		default:
			depth++
		}
	}
	return path.Clean(p), ""
}

func setVerify(c *Config, v string) (string, bool) {
	i := enumIndex(verifyNames, v)
	if i < 0 {
		return "", false
	}
	c.Verify = VerifyMode(i)
	return "", true
}

func setHandover(c *Config, v string) (string, bool) {
	i := enumIndex(handoverNames, v)
	if i < 0 {
		return "", false
	}
	c.Handover = HandoverMode(i)
	return "", true
}

func setOnFail(c *Config, v string) (string, bool) {
	word, secs, hasDelay := strings.Cut(v, ":")
	i := enumIndex(onFailNames, word)
	switch {
	case i < 0:
		return "", false
	case OnFailAction(i) != OnFailReboot && hasDelay:
		return "only reboot takes :SECONDS", false
	case !hasDelay:
		c.OnFail = OnFail{Action: OnFailAction(i)}
		if c.OnFail.Action == OnFailReboot {
			c.OnFail.Delay = DefaultRebootDelay
		}
		return "", true
	}
	n, ok := parseUint(secs, maxRebootDelay)
	if !ok {
		return fmt.Sprintf("reboot delay %q is not a whole number of seconds from 0 to 86400", secs), false
	}
	c.OnFail = OnFail{Action: OnFailReboot, Delay: time.Duration(n) * time.Second}
	return "", true
}

func setBreak(c *Config, v string) (string, bool) {
	if enumIndex(Stages, v) < 0 {
		return "", false
	}
	c.Break = v
	return "", true
}

func setDegraded(c *Config, v string) (string, bool) {
	switch v {
	case "ok":
		c.Degraded = true
	case "off", "no":
		c.Degraded = false
	default:
		return "", false
	}
	return "", true
}

func setTimeout(d *time.Duration, v string) (string, bool) {
	n, ok := parseUint(v, maxTimeout)
	if !ok || n == 0 {
		return "", false
	}
	*d = time.Duration(n) * time.Second
	return "", true
}

func setNTP(c *Config, v string) (string, bool) {
	var hosts []string
	for i, h := range strings.Split(v, ",") {
		host, r := checkHost(h)
		if r != "" {
			return fmt.Sprintf("server %d %q: %s", i+1, h, r), false
		}
		hosts = append(hosts, host)
	}
	c.NTP = hosts
	return "", true
}

// checkHost accepts an IP address (IPv6 bare or in brackets) or a DNS name,
// and returns it without brackets.
func checkHost(h string) (string, string) {
	if inner, ok := strings.CutPrefix(h, "["); ok {
		inner, ok = strings.CutSuffix(inner, "]")
		if a, err := netip.ParseAddr(inner); !ok || err != nil || !a.Is6() || a.Zone() != "" {
			return "", "not an IPv6 address in brackets"
		}
		return inner, ""
	}
	if a, err := netip.ParseAddr(h); err == nil {
		if a.Zone() != "" {
			return "", "an address with a zone"
		}
		return h, ""
	}
	if !hostname.IsDNSName(h) {
		return "", "not a host name or IP address"
	}
	return h, ""
}

func setRescue(c *Config, v string) (string, bool) {
	i := enumIndex(rescueNames, v)
	if i < 0 {
		return "", false
	}
	c.Rescue = RescueMode(i)
	return "", true
}

func setRescuePort(c *Config, v string) (string, bool) {
	n, ok := parseUint(v, 65535)
	if !ok || n == 0 {
		return "", false
	}
	c.RescuePort = n
	return "", true
}

func setTries(c *Config, v string) (string, bool) {
	n, ok := parseUint(v, maxTries)
	if !ok || n == 0 {
		return "", false
	}
	c.Tries = n
	return "", true
}

func setSnapshot(c *Config, v string) (string, bool) {
	if v == "off" {
		c.Snapshot, c.SnapshotOff = nil, true
		return "", true
	}
	names := strings.Split(v, ",")
	for i, n := range names {
		if r := checkName(n); r != "" {
			return fmt.Sprintf("name %d %q: %s", i+1, n, r), false
		}
		switch {
		case n == "." || n == "..":
			return fmt.Sprintf("name %d %q is not a name", i+1, n), false
		case strings.Contains(n, "/"):
			return fmt.Sprintf("name %d %q contains /", i+1, n), false
		}
		for _, m := range names[:i] {
			if m == n {
				return fmt.Sprintf("name %q appears twice", n), false
			}
		}
	}
	c.Snapshot, c.SnapshotOff = names, false
	return "", true
}

func setSnapshotKeep(c *Config, v string) (string, bool) {
	n, ok := parseUint(v, maxTries)
	if !ok || n == 0 {
		return "", false
	}
	c.SnapshotKeep = n
	return "", true
}

func setRollback(c *Config, v string) (string, bool) {
	switch v {
	case "on":
		c.RollbackOff = false
	case "off":
		c.RollbackOff = true
	default:
		return "", false
	}
	return "", true
}

func setWatchdog(c *Config, v string) (string, bool) {
	if v == "off" {
		c.Watchdog, c.WatchdogSet = 0, true
		return "", true
	}
	n, ok := parseUint(v, maxTimeout)
	if !ok {
		return "", false
	}
	c.Watchdog, c.WatchdogSet = time.Duration(n)*time.Second, true
	return "", true
}

func setWatchdogKexec(c *Config, v string) (string, bool) {
	switch v {
	case "keep":
		c.WatchdogStop = false
	case "stop":
		c.WatchdogStop = true
	default:
		return "", false
	}
	return "", true
}

func setTree(c *Config, v string) (string, bool) {
	p, r := absPath(v)
	if r != "" {
		return r, false
	}
	c.Tree = p
	return "", true
}

func setReport(c *Config, v string) (string, bool) {
	p, r := absPath(v)
	if r != "" {
		return r, false
	}
	c.Report = p
	return "", true
}

// parseUint accepts decimal digits only (no sign, no spaces, no 0x) up to max.
func parseUint(s string, max int) (int, bool) {
	if s == "" || len(s) > 9 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(s)
	return n, err == nil && n <= max
}

func hasControl(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return r < ' ' || r == 0x7f })
}

// suggestKey returns the known key closest to name, within two edits
// (a transposition counts as one), or "".
func suggestKey(name string) string {
	best, bestD := "", 3
	for _, k := range keys {
		if d := typo.Distance(name, k.name, bestD); d < bestD {
			best, bestD = k.name, d
		}
	}
	return best
}
