// Package config reads the boot configuration of homestaker-boot: the
// homestaker.*, ip= and console= parameters of the kernel command line,
// applied over defaults that the initramfs builder may bake in.
//
// Everything here is a pure function over strings, so that the init, the
// builder and the tests share one grammar.
package config

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"
)

// Config is the boot configuration.
type Config struct {
	Label    string // homestaker.label, default "homestaker"
	LabelSet bool   // homestaker.label was given, so the storage stage must not fall back to "homestakeros"
	Mnt      string // homestaker.mnt: absolute clean path where subvolumes are mounted
	Subvols  []string
	IP       []IPConfig // every ip=, at most one per device
	IfNames  []IfName   // every ifname=, one per name and MAC
	VLANs    []VLAN     // every vlan=, one per name
	WG       WGMode
	Next     []Source
	Verify   VerifyMode // VerifyAuto: signature when a trusted key is built in, else checksum
	Handover HandoverMode
	OnFail   OnFail
	Break    string // one of Stages, "" = none
	Degraded bool
	Timeouts Timeouts
	NTP      []string // nil: DHCP option 42, else a public pool
	Rescue   RescueMode
	// RescuePort is the rescue SSH port on the tunnel addresses.
	RescuePort int
	Tries      int
	// Watchdog is the hardware watchdog timeout. With WatchdogSet false the
	// init picks its default (120 s when /dev/watchdog exists);
	// homestaker.watchdog=0 or off gives WatchdogSet true and 0: disabled.
	Watchdog    time.Duration
	WatchdogSet bool
	// WatchdogStop disarms the watchdog before a kexec
	// (homestaker.watchdog.kexec=stop); by default it keeps running, for
	// HomestakerOS's watchdogd to take over.
	WatchdogStop bool
	Report       string // homestaker.report: the previous stage's report on the volume
	// Tree is homestaker.tree: the volume directory the previous stage was
	// booted from, for its success mark (see init/bootcount).
	Tree string
	// Log is homestaker.log: the syslog collector, or none.
	Log LogTarget
	// Snapshot is homestaker.snapshot: the names of homestaker.subvols
	// whose subvolumes are snapshotted before a new tree's first boot; nil
	// is the default (the client data names among them), SnapshotOff is
	// homestaker.snapshot=off.
	Snapshot     []string
	SnapshotOff  bool
	SnapshotKeep int      // homestaker.snapshot.keep: sets kept on the volume
	RollbackOff  bool     // homestaker.rollback=off: a fallback changes the image only
	Console      []string // every console= in order, carried over to the next kernel
}

// Timeouts are the stage timeouts.
type Timeouts struct {
	Net, WG, Disk, Secrets time.Duration
}

// OnFail is what the init does after the failure banner.
type OnFail struct {
	Action OnFailAction
	Delay  time.Duration // reboot only
}

// DefaultRebootDelay is the delay of homestaker.onfail=reboot without
// :SECONDS: long enough for an operator at the console to read the banner.
const DefaultRebootDelay = 30 * time.Second

// Source is one place the next stage may come from.
type Source struct {
	Kind SourceKind
	Path string // SourceVolume, SourceInitramfs: absolute, cleaned
	URL  string // SourceHTTP: the URL as given
	Raw  string // the spelling on the command line
}

// String returns the source as it was spelled on the command line.
func (s Source) String() string {
	if s.Kind == SourceHTTP {
		return RedactURL(s.URL)
	}
	if s.Raw != "" {
		return s.Raw
	}
	switch s.Kind {
	default:
		return s.Kind.String() + ":" + s.Path
	}
}

// Stages are the names accepted by homestaker.break, in boot order.
var Stages = []string{"early", "network", "storage", "secrets", "wireguard", "nextstage", "snapshot", "handover"}

// IPConfig is one ip= parameter.
type IPConfig struct {
	Mode     IPMode
	Device   string       // "" = every NIC
	Client   netip.Prefix // the client address with the prefix length from the netmask (a host prefix when no netmask was given)
	Server   netip.Addr
	Gateway  netip.Addr
	Hostname string
	DNS      []netip.Addr
	NTP      netip.Addr // the kernel's 10th field, ntp0
	MTU      int
	MAC      net.HardwareAddr
	Raw      string // the value as given, for error messages
}

// Problem is one parameter that could not be applied.
type Problem struct {
	Key     string // e.g. "homestaker.wg"
	Value   string // the value as given; no key here holds a secret
	Message string // what is wrong and what is accepted
	// Unknown is true for an unknown homestaker.* key: a warning, the boot
	// goes on. Otherwise the value is bad and the early stage fails.
	Unknown bool
}

func (p Problem) Error() string {
	return RedactURLs(fmt.Sprintf("%s=%q: %s", p.Key, p.Value, p.Message))
}

// Param is one parameter of a command line.
type Param struct {
	Key, Value string
	HasValue   bool // there was an '=': "key=" has an empty value, "key" none
}

// DefaultsPath is where the initramfs builder puts the baked-in defaults.
const DefaultsPath = "/etc/homestaker/defaults"

// Defaults returns the built-in configuration, before any defaults file or
// command line.
func Defaults() Config {
	return Config{
		Label:   "homestaker",
		Mnt:     "/mnt",
		Subvols: []string{"secrets", "erigon", "lighthouse"},
		IP:      []IPConfig{{Mode: IPDHCP, Raw: "dhcp"}},
		WG:      WGRequired,
		Next: []Source{
			{Kind: SourceVolume, Path: "/boot/current", Raw: "volume:/boot/current"},
			{Kind: SourceVolume, Path: "/boot/previous", Raw: "volume:/boot/previous"},
		},
		Verify:       VerifyAuto,
		Handover:     HandoverKexec,
		OnFail:       OnFail{Action: OnFailShell},
		Timeouts:     Timeouts{Net: 30 * time.Second, WG: 20 * time.Second, Disk: 15 * time.Second, Secrets: 30 * time.Second},
		Rescue:       RescueAuto,
		RescuePort:   22,
		Tries:        3,
		SnapshotKeep: 3,
	}
}

// Parse reads a kernel command line (the contents of /proc/cmdline) on top
// of base. It never fails as a whole: it returns the configuration with
// every good parameter applied, and the problems with the others.
func Parse(cmdline string, base Config) (Config, []Problem) {
	p := newParser(base, false)
	for _, prm := range Tokenize(cmdline) {
		p.apply(prm)
	}
	return p.cfg, p.problems
}

// ParseDefaults reads the builder's defaults file: the command line syntax,
// any number of parameters per line, '#' starting a comment at the start of
// a word, blank lines ignored. Each problem's Message begins with
// DefaultsPath:LINE. Parameters other than homestaker.*, ip= and console=
// are reported as unknown, since the kernel never reads this file.
func ParseDefaults(text string, base Config) (Config, []Problem) {
	p := newParser(base, true)
	for i, line := range strings.Split(text, "\n") {
		from := len(p.problems)
		for _, prm := range tokenize(line, true) {
			p.apply(prm)
		}
		for j := from; j < len(p.problems); j++ {
			p.problems[j].Message = fmt.Sprintf("%s:%d: %s", DefaultsPath, i+1, p.problems[j].Message)
		}
	}
	return p.cfg, p.problems
}

// parser applies parameters one by one; ip= and console= accumulate within
// one text, but the first of each replaces what base had.
type parser struct {
	cfg         Config
	problems    []Problem
	strict      bool // the defaults file: foreign keys are reported
	ipSeen      bool
	ifnameSeen  bool
	vlanSeen    bool
	consoleSeen bool
}

func newParser(base Config, strict bool) *parser {
	return &parser{cfg: base, strict: strict}
}

func (p *parser) apply(prm Param) {
	switch {
	case prm.Key == "ip":
		p.applyIP(prm)
	case prm.Key == "ifname":
		p.applyIfName(prm)
	case prm.Key == "vlan":
		p.applyVLAN(prm)
	case prm.Key == "console":
		// The kernel owns console=; an empty one is its business, not worth
		// failing the boot over, and there is nothing to carry over.
		if prm.Value == "" {
			return
		}
		if !p.consoleSeen {
			p.cfg.Console = nil
			p.consoleSeen = true
		}
		p.cfg.Console = append(p.cfg.Console, prm.Value)
	default:
		k := lookupKey(prm.Key)
		if k == nil {
			p.unknown(prm)
			return
		}
		if !prm.HasValue {
			p.bad(prm, "needs a value; "+k.accepted)
			return
		}
		if msg := k.apply(&p.cfg, prm.Value); msg != "" {
			p.bad(prm, msg)
		}
	}
}

func (p *parser) applyIP(prm Param) {
	if !prm.HasValue {
		p.bad(prm, "needs a value; "+ipAccepted)
		return
	}
	c, err := ParseIP(prm.Value)
	if err != nil {
		p.bad(prm, err.(*ipError).detail())
		return
	}
	if !p.ipSeen {
		p.cfg.IP = nil
		p.ipSeen = true
	}
	p.cfg.IP = addIP(p.cfg.IP, c)
}

// addIP adds c to list: it replaces the entry for the same device, and
// "off" for every device replaces them all. The result is a new slice, so
// that base is never modified.
func addIP(list []IPConfig, c IPConfig) []IPConfig {
	if c.Mode == IPOff && c.Device == "" {
		return []IPConfig{c}
	}
	out := append([]IPConfig(nil), list...)
	for i := range out {
		if out[i].Device == c.Device {
			out[i] = c
			return out
		}
	}
	return append(out, c)
}

func (p *parser) bad(prm Param, msg string) {
	p.problems = append(p.problems, Problem{Key: prm.Key, Value: prm.Value, Message: msg})
}

func (p *parser) unknown(prm Param) {
	hs := strings.HasPrefix(prm.Key, "homestaker.")
	suggestion := suggestKey(prm.Key)
	switch {
	case hs && suggestion != "":
		p.addUnknown(prm, "unknown parameter, ignored; did you mean "+suggestion+"?")
	case hs:
		p.addUnknown(prm, "unknown parameter, ignored")
	case suggestion != "":
		// Not ours by name, but so close to one of ours that it is
		// most likely a typo (homestakeros.label, homestaker-wg).
		p.addUnknown(prm, "not a known parameter, ignored; did you mean "+suggestion+"?")
	case p.strict:
		p.addUnknown(prm, "not a homestaker.*, ip= or console= parameter; the kernel does not read this file, ignored")
	}
}

func (p *parser) addUnknown(prm Param, msg string) {
	p.problems = append(p.problems, Problem{Key: prm.Key, Value: prm.Value, Message: msg, Unknown: true})
}
