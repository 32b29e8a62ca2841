package config

import (
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// LogTarget is homestaker.log: a syslog collector the console and kernel
// lines are copied to (init/logship). The zero value is no collector.
type LogTarget struct {
	Network string // "udp" or "tcp"; "" = off
	Host    string // an IP address (IPv6 without brackets) or a DNS name
	Port    int
}

// On says whether a collector is configured.
func (t LogTarget) On() bool { return t.Network != "" }

// Addr is HOST:PORT, IPv6 in brackets, for net.Dial.
func (t LogTarget) Addr() string { return net.JoinHostPort(t.Host, strconv.Itoa(t.Port)) }

// String is the value as homestaker.log= takes it; "off" when unset.
func (t LogTarget) String() string {
	if !t.On() {
		return "off"
	}
	return "syslog+" + t.Network + "://" + t.Addr()
}

// IP is the collector's address when Host is one.
func (t LogTarget) IP() (netip.Addr, bool) {
	a, err := netip.ParseAddr(t.Host)
	return a, err == nil
}

const logAccepted = "accepted values are syslog+udp://HOST:PORT or syslog+tcp://HOST:PORT (HOST an IP address, [IPv6] or a host name; e.g. syslog+tcp://10.8.0.1:514), or off"

func setLog(c *Config, v string) (string, bool) {
	if v == "off" {
		c.Log = LogTarget{}
		return "", true
	}
	t, r := parseLogTarget(v)
	if r != "" {
		return r, false
	}
	c.Log = t
	return "", true
}

// parseLogTarget reads syslog+udp://HOST:PORT or syslog+tcp://HOST:PORT.
// It is not net/url: a syslog target has no user, path or query, and
// each of those is named when it is there.
func parseLogTarget(v string) (LogTarget, string) {
	scheme, rest, ok := strings.Cut(v, "://")
	if !ok {
		return LogTarget{}, "not a URL (syslog+udp://HOST:PORT or syslog+tcp://HOST:PORT)"
	}
	var t LogTarget
	switch scheme {
	case "syslog+udp":
		t.Network = "udp"
	case "syslog+tcp":
		t.Network = "tcp"
	default:
		return LogTarget{}, "scheme " + strconv.Quote(scheme) + " is not syslog+udp or syslog+tcp"
	}
	switch {
	case strings.Contains(rest, "@"):
		return LogTarget{}, "a syslog target has no user (drop the part before @)"
	case strings.ContainsAny(strings.TrimSuffix(rest, "/"), "/?#"):
		i := strings.IndexAny(rest, "/?#")
		return LogTarget{}, "a syslog target has no path, query or fragment (drop " + strconv.Quote(rest[i:]) + ")"
	}
	hostPort := strings.TrimSuffix(rest, "/")
	host, port, err := net.SplitHostPort(hostPort)
	if err != nil {
		if _, perr := netip.ParseAddr(hostPort); perr == nil && strings.Contains(hostPort, ":") {
			return LogTarget{}, "an IPv6 address must be in brackets, e.g. [2001:db8::1]:514"
		}
		return LogTarget{}, "no port (add one, e.g. :514)"
	}
	if strings.HasPrefix(hostPort, "[") {
		host = "[" + host + "]"
	}
	h, r := checkHost(host)
	if r != "" {
		return LogTarget{}, "host " + strconv.Quote(host) + ": " + r
	}
	if a, err := netip.ParseAddr(h); err == nil && a.Is6() && !strings.HasPrefix(hostPort, "[") {
		return LogTarget{}, "an IPv6 address must be in brackets, e.g. [2001:db8::1]:514"
	}
	n, ok := parseUint(port, 65535)
	if !ok || n == 0 {
		return LogTarget{}, "port " + strconv.Quote(port) + " is not 1 to 65535"
	}
	t.Host, t.Port = h, n
	return t, ""
}
