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
