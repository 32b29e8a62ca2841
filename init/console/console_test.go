package console

import (
	"bytes"
	"strings"
	"testing"
)

func TestStatusLineGoesToConsoleAndKmsg(t *testing.T) {
	var out, kmsg bytes.Buffer
	c := New(&out, &kmsg)
	c.Status(OK, "storage", "homestaker (%d devices) mounted at %s", 2, "/mnt")
	if got, want := out.String(), "[  OK  ] storage: homestaker (2 devices) mounted at /mnt\r\n"; got != want {
		t.Errorf("console = %q, want %q", got, want)
	}
	// Level 7 keeps the kernel from echoing the line to the console again.
	if got, want := kmsg.String(), "<7>homestaker: [  OK  ] storage: homestaker (2 devices) mounted at /mnt\n"; got != want {
		t.Errorf("kmsg = %q, want %q", got, want)
	}
}

func TestBannerNamesEverything(t *testing.T) {
	var out bytes.Buffer
	New(&out, nil).Banner(Banner{
		Stage:    "secrets",
		Expected: "one JWT shared by the clients",
		Found:    "erigon/jwt.hex differs from lighthouse/jwt.hex\nsecond line",
		Action:   "copy one over the other",
		Report:   "/run/homestaker/report.json",
		Next:     "powering off",
	})
	s := out.String()
	for _, want := range []string{
		"HOMESTAKER BOOT STOPPED in stage secrets",
		"  expected: one JWT shared by the clients\r\n",
		"  found:    erigon/jwt.hex differs from lighthouse/jwt.hex\r\n            second line\r\n",
		"  to do:    copy one over the other\r\n",
		"  now:      powering off\r\n",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("banner lacks %q:\n%s", want, s)
		}
	}
}

func TestTeeCopiesUntilStopped(t *testing.T) {
	var out, copy1 bytes.Buffer
	c := New(&out, nil)
	c.Printf("before")
	stop := c.Tee(&copy1)
	c.Status(OK, "secrets", "checked")
	stop()
	c.Printf("after")
	if got := copy1.String(); got != "[  OK  ] secrets: checked\r\n" {
		t.Errorf("the tee got %q", got)
	}
	if !strings.Contains(out.String(), "before") || !strings.Contains(out.String(), "after") {
		t.Errorf("the console lost lines: %q", out.String())
	}
}

// Text from the network must not reach the terminal as control sequences:
// an ESC, CR or bidi override in a DHCP host name or an HTTP reason would
// rewrite what the operator reads.
func TestControlCharactersEscaped(t *testing.T) {
	var out, kmsg, tee bytes.Buffer
	c := New(&out, &kmsg)
	stop := c.Tee(&tee)
	defer stop()
	c.Status(Warn, "network", "eth0: host name %s", "evil\x1b[2J\x1b]0;x\x07")
	c.Printf("reason: 404 Not Found\rOK\x08\x00\x7f\xc2\x9b \xff end\u202etxt.exe")
	c.Banner(Banner{Stage: "nextstage", Found: "server said \x1b[31mOK"})
	for name, b := range map[string]string{"console": out.String(), "kmsg": kmsg.String(), "tee": tee.String()} {
		text := strings.ReplaceAll(b, "\r\n", "\n")
		for _, r := range text {
			if r < 0x20 && r != '\n' && r != '\t' || r == 0x7f || r >= 0x80 && r < 0xa0 || r == 0x202e || r == 0xfffd {
				t.Errorf("%s: control character %U reached the terminal:\n%q", name, r, b)
				break
			}
		}
	}
	for _, want := range []string{`evil\x1b[2J\x1b]0;x\x07`, `Not Found\x0dOK\x08\x00\x7f\u009b \xff end\u202etxt.exe`, `server said \x1b[31mOK`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("console lacks %q:\n%s", want, out.String())
		}
	}
}

func TestEscape(t *testing.T) {
	for in, want := range map[string]string{
		"plain ascii\twith tab": "plain ascii\twith tab",
		"grüße, 東京":             "grüße, 東京",
		"a\x1bb":                `a\x1bb`,
		"\u2028x\u2066":         `\u2028x\u2066`,
	} {
		got := Escape(in)
		if got != want {
			t.Errorf("Escape(%q) = %q, want %q", in, got, want)
		}
		if Escape(got) != got {
			t.Errorf("Escape is not idempotent on %q", got)
		}
	}
}

// Forward gets each line as the console shows it, escaped, with the stage
// and result of a status line.
func TestForwardGetsEscapedLines(t *testing.T) {
	var out bytes.Buffer
	c := New(&out, nil)
	var got []Line
	c.Forward(func(l Line) { got = append(got, l) })
	c.Status(Warn, "network", "server says \x1b[2Jhi")
	c.Progress("storage", "probing /dev/vda")
	c.Printf("plain\nsecond")
	c.Banner(Banner{Stage: "secrets", Found: "no JWT"})
	want := []Line{
		{Stage: "network", Status: Warn, Tagged: true, Text: `[ WARN ] network: server says \x1b[2Jhi`},
		{Stage: "storage", Text: "         storage: probing /dev/vda"},
		{Text: "plain"},
		{Text: "second"},
	}
	if len(got) < len(want)+3 {
		t.Fatalf("forwarded %d lines: %+v", len(got), got)
	}
	for i, w := range want {
		if got[i] != w {
			t.Errorf("line %d = %+v, want %+v", i, got[i], w)
		}
	}
	for _, l := range got[len(want):] {
		if l.Stage != "secrets" || l.Status != Failed || !l.Tagged {
			t.Errorf("banner line %+v is not the failed secrets stage's", l)
		}
	}
	c.Forward(nil)
	c.Printf("after")
	if got[len(got)-1].Text == "after" {
		t.Error("Forward(nil) did not stop the copy")
	}
}
