package config

import (
	"bytes"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Encode renders the parameters in which cfg differs from Defaults(), as
// a command line (the builder bakes it in; chainload passes it on), so
// that Parse(Encode(cfg), Defaults()) gives cfg back for any cfg that Parse
// produced. Empty fields (a nil slice, "", 0) are left to the defaults.
// Values with whitespace are quoted; a value holding a double quote cannot
// be written, and Parse never produces one.
func Encode(cfg Config) string {
	d := Defaults()
	var words []string
	add := func(key, value string) {
		if value == "" || strings.ContainsFunc(value, func(r rune) bool { return r < 0x80 && isSpace(byte(r)) }) {
			value = `"` + value + `"`
		}
		words = append(words, key+"="+value)
	}
	if cfg.Label != "" && (cfg.LabelSet || cfg.Label != d.Label) {
		add("homestaker.label", cfg.Label)
	}
	if cfg.Mnt != "" && cfg.Mnt != d.Mnt {
		add("homestaker.mnt", cfg.Mnt)
	}
	if len(cfg.Subvols) > 0 && !slices.Equal(cfg.Subvols, d.Subvols) {
		add("homestaker.subvols", strings.Join(cfg.Subvols, ","))
	}
	if len(cfg.IP) > 0 && !slices.EqualFunc(cfg.IP, d.IP, ipEqual) {
		for _, c := range cfg.IP {
			add("ip", ipString(c))
		}
	}
	for _, n := range cfg.IfNames {
		add("ifname", n.String())
	}
	for _, v := range cfg.VLANs {
		add("vlan", v.String())
	}
	if cfg.WG != d.WG {
		add("homestaker.wg", cfg.WG.String())
	}
	if len(cfg.Next) > 0 && !slices.Equal(cfg.Next, d.Next) {
		srcs := make([]string, len(cfg.Next))
		for i, s := range cfg.Next {
			srcs[i] = s.Raw // what the operator wrote, credentials and all: this is a command line, not a message
			if srcs[i] == "" && s.Kind == SourceHTTP {
				srcs[i] = s.URL
			} else if srcs[i] == "" {
				srcs[i] = s.String()
			}
		}
		add("homestaker.next", strings.Join(srcs, ","))
	}
	if cfg.Verify != d.Verify {
		add("homestaker.verify", cfg.Verify.String())
	}
	if cfg.Handover != d.Handover {
		add("homestaker.handover", cfg.Handover.String())
	}
	if cfg.OnFail != d.OnFail {
		v := cfg.OnFail.Action.String()
		if cfg.OnFail.Action == OnFailReboot && cfg.OnFail.Delay != DefaultRebootDelay {
			v += ":" + seconds(cfg.OnFail.Delay)
		}
		add("homestaker.onfail", v)
	}
	if cfg.Break != "" {
		add("homestaker.break", cfg.Break)
	}
	if cfg.Degraded {
		add("homestaker.degraded", "ok")
	}
	for _, t := range []struct {
		key      string
		v, deflt time.Duration
	}{
		{"homestaker.timeout.net", cfg.Timeouts.Net, d.Timeouts.Net},
		{"homestaker.timeout.wg", cfg.Timeouts.WG, d.Timeouts.WG},
		{"homestaker.timeout.disk", cfg.Timeouts.Disk, d.Timeouts.Disk},
		{"homestaker.timeout.secrets", cfg.Timeouts.Secrets, d.Timeouts.Secrets},
	} {
		if t.v > 0 && t.v != t.deflt {
			add(t.key, seconds(t.v))
		}
	}
	if len(cfg.NTP) > 0 {
		add("homestaker.ntp", strings.Join(cfg.NTP, ","))
	}
	if cfg.Rescue != d.Rescue {
		add("homestaker.rescue", cfg.Rescue.String())
	}
	if cfg.RescuePort != 0 && cfg.RescuePort != d.RescuePort {
		add("homestaker.rescue.port", strconv.Itoa(cfg.RescuePort))
	}
	if cfg.Tries != 0 && cfg.Tries != d.Tries {
		add("homestaker.tries", strconv.Itoa(cfg.Tries))
	}
	if cfg.SnapshotOff {
		add("homestaker.snapshot", "off")
	} else if len(cfg.Snapshot) > 0 {
		add("homestaker.snapshot", strings.Join(cfg.Snapshot, ","))
	}
	if cfg.SnapshotKeep != 0 && cfg.SnapshotKeep != d.SnapshotKeep {
		add("homestaker.snapshot.keep", strconv.Itoa(cfg.SnapshotKeep))
	}
	if cfg.RollbackOff {
		add("homestaker.rollback", "off")
	}
	if cfg.WatchdogSet {
		if cfg.Watchdog == 0 {
			add("homestaker.watchdog", "off")
		} else {
			add("homestaker.watchdog", seconds(cfg.Watchdog))
		}
	}
	if cfg.WatchdogStop {
		add("homestaker.watchdog.kexec", "stop")
	}
	if cfg.Report != "" {
		add("homestaker.report", cfg.Report)
	}
	if cfg.Tree != "" {
		add("homestaker.tree", cfg.Tree)
	}
	if cfg.Log.On() {
		add("homestaker.log", cfg.Log.String())
	}
	for _, c := range cfg.Console {
		add("console", c)
	}
	return strings.Join(words, " ")
}

func seconds(d time.Duration) string {
	return strconv.FormatInt(int64(d/time.Second), 10)
}

// ipString is the value as it was given when that still says the same,
// so that a round trip keeps Raw; otherwise a fresh rendering.
func ipString(c IPConfig) string {
	if c.Raw != "" {
		if p, err := ParseIP(c.Raw); err == nil && ipEqual(p, c) {
			return c.Raw
		}
	}
	return formatIP(c)
}

func ipEqual(a, b IPConfig) bool {
	return a.Mode == b.Mode && a.Device == b.Device && a.Client == b.Client &&
		a.Server == b.Server && a.Gateway == b.Gateway && a.Hostname == b.Hostname &&
		slices.Equal(a.DNS, b.DNS) && a.NTP == b.NTP && a.MTU == b.MTU &&
		bytes.Equal(a.MAC, b.MAC) && a.Raw == b.Raw
}
