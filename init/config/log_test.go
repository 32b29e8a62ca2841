package config

import (
	"strings"
	"testing"
)

func TestLogGood(t *testing.T) {
	for _, tc := range []struct {
		value string
		want  LogTarget
		addr  string
	}{
		{"syslog+udp://10.0.2.2:5514", LogTarget{"udp", "10.0.2.2", 5514}, "10.0.2.2:5514"},
		{"syslog+tcp://10.8.0.1:514", LogTarget{"tcp", "10.8.0.1", 514}, "10.8.0.1:514"},
		{"syslog+tcp://10.8.0.1:514/", LogTarget{"tcp", "10.8.0.1", 514}, "10.8.0.1:514"},
		{"syslog+udp://[2001:db8::1]:514", LogTarget{"udp", "2001:db8::1", 514}, "[2001:db8::1]:514"},
		{"syslog+tcp://hub.example:6514", LogTarget{"tcp", "hub.example", 6514}, "hub.example:6514"},
		{"off", LogTarget{}, ""},
	} {
		c, probs := Parse("homestaker.log="+tc.value, Defaults())
		if len(probs) != 0 {
			t.Errorf("%s: %v", tc.value, probs)
			continue
		}
		if c.Log != tc.want {
			t.Errorf("%s: Log = %+v, want %+v", tc.value, c.Log, tc.want)
		}
		if tc.addr != "" && c.Log.Addr() != tc.addr {
			t.Errorf("%s: Addr = %q, want %q", tc.value, c.Log.Addr(), tc.addr)
		}
		roundTrip(t, c)
	}
	// off overrides a baked-in collector.
	base, _ := Parse("homestaker.log=syslog+udp://10.0.0.1:514", Defaults())
	if c, _ := Parse("homestaker.log=off", base); c.Log.On() {
		t.Errorf("homestaker.log=off left %v", c.Log)
	}
}

func TestLogBad(t *testing.T) {
	for _, tc := range []struct{ value, want string }{
		{"", "not a URL"},
		{"10.0.0.1:514", "not a URL"},
		{"syslog://10.0.0.1:514", `scheme "syslog" is not syslog+udp or syslog+tcp`},
		{"udp://10.0.0.1:514", `scheme "udp"`},
		{"syslog+tls://10.0.0.1:6514", `scheme "syslog+tls"`},
		{"syslog+udp://10.0.0.1", "no port (add one, e.g. :514)"},
		{"syslog+udp://10.0.0.1:", `port "" is not 1 to 65535`},
		{"syslog+udp://10.0.0.1:0", `port "0"`},
		{"syslog+udp://10.0.0.1:65536", `port "65536"`},
		{"syslog+udp://10.0.0.1:syslog", `port "syslog"`},
		{"syslog+udp://2001:db8::1:514", "must be in brackets"},
		{"syslog+udp://2001:db8::1", "must be in brackets"},
		{"syslog+udp://[10.0.0.1]:514", "not an IPv6 address in brackets"},
		{"syslog+udp://[fe80::1%eth0]:514", "not an IPv6 address in brackets"},
		{"syslog+udp://a_b.example:514", "not a host name"},
		{"syslog+udp://:514", `host ""`},
		{"syslog+tcp://user:pw@10.0.0.1:514", "no user"},
		{"syslog+tcp://10.0.0.1:514/log", `drop "/log"`},
		{"syslog+tcp://10.0.0.1:514?x=1", `drop "?x=1"`},
	} {
		_, probs := Parse("homestaker.log="+tc.value, Defaults())
		if len(probs) != 1 || probs[0].Key != "homestaker.log" || probs[0].Unknown {
			t.Errorf("%q: problems %v, want one bad homestaker.log", tc.value, probs)
			continue
		}
		msg := probs[0].Message
		if !strings.Contains(msg, tc.want) || !strings.Contains(msg, "syslog+tcp://10.8.0.1:514") {
			t.Errorf("%q: message %q lacks %q or the accepted values", tc.value, msg, tc.want)
		}
	}
	if _, probs := Parse("homestaker.log", Defaults()); len(probs) != 1 || !strings.Contains(probs[0].Message, "needs a value") {
		t.Errorf("homestaker.log without a value: %v", probs)
	}
	// A password in a mistaken URL is not echoed by the problem.
	_, probs := Parse("homestaker.log=syslog+tcp://u:secretpw@10.0.0.1:514", Defaults())
	if len(probs) != 1 || strings.Contains(probs[0].Error(), "secretpw") {
		t.Errorf("problem %v shows the password", probs)
	}
}

func FuzzLogTarget(f *testing.F) {
	for _, s := range []string{"syslog+udp://10.0.0.1:514", "syslog+tcp://[2001:db8::1]:1", "syslog+tcp://h.example:65535/", "off", "syslog+udp://"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		c, probs := Parse("homestaker.log="+`"`+v+`"`, Defaults())
		if len(probs) > 0 || !c.Log.On() {
			return
		}
		// What parses is what Encode writes back.
		again, probs := Parse("homestaker.log="+c.Log.String(), Defaults())
		if len(probs) > 0 || again.Log != c.Log {
			t.Fatalf("%q parses to %+v, its String %q to %+v %v", v, c.Log, c.Log.String(), again.Log, probs)
		}
	})
}
