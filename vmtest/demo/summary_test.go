package main

import (
	"fmt"
	"strings"
	"testing"
)

var bootedConsole = `[    1.234] Linux version 6.1.0
[  OK  ] early: 35 kernel modules loaded (9.44s)
         storage: waiting up to 15s for a Btrfs, ext4 or xfs filesystem labelled "homestaker"
[  OK  ] storage: homestaker (1 of 1 device: /dev/vda) mounted at /mnt, waited 54ms for devices (797ms)
[ WARN ] nextstage: no SHA256SUMS: the tree is not verified
[  OK  ] handover: kexec into /next/bzImage (5.71s)
[   28.98] kexec_core: Starting new kernel
HOMESTAKER-STAGE2 up at 12.06 as pid 1
HOMESTAKER-STAGE2 cmdline: init=/nix/store/x/init console=ttyS0 homestaker.report=/boot/reports/000001.json
HOMESTAKER-STAGE2 received: /received/hello.txt (38 bytes)
HOMESTAKER-STAGE2 report /boot/reports/000001.json: 7029 bytes, result ok
HOMESTAKER-STAGE2 volume: clean, no log replay
HOMESTAKER-STAGE2 powering off`

func TestSummarizeBooted(t *testing.T) {
	var tr transcript
	// As the pipe delivers it: in pieces, with the serial line's CRs.
	raw := strings.ReplaceAll(bootedConsole, "\n", "\r\n")
	for len(raw) > 0 {
		n := min(7, len(raw))
		fmt.Fprint(&tr, raw[:n])
		raw = raw[n:]
	}
	got, ok := summarize(tr.Lines())
	if !ok {
		t.Errorf("a booted chain summed up as not booted:\n%s", got)
	}
	for _, want := range []string{
		"    [  OK  ] early: 35 kernel modules loaded (9.44s)\n",
		"    [ WARN ] nextstage: no SHA256SUMS: the tree is not verified\n",
		"  the handover:\n    [  OK  ] handover: kexec into /next/bzImage (5.71s)\n",
		"    its command line: init=/nix/store/x/init console=ttyS0 homestaker.report=/boot/reports/000001.json\n",
		"    where its boot report is on the volume: /boot/reports/000001.json (homestaker.report=)\n",
		"    report /boot/reports/000001.json: 7029 bytes, result ok\n",
		"    received: /received/hello.txt (38 bytes)\n",
		"demo: the chain booted from the init to the next system\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("the summary lacks %q:\n%s", want, got)
		}
	}
	if n := strings.Count(got, "handover: kexec"); n != 1 {
		t.Errorf("the summary shows the handover %d times:\n%s", n, got)
	}
	for _, never := range []string{"waiting up to", "powering off", "up at", "Linux version"} {
		if strings.Contains(got, never) {
			t.Errorf("the summary has %q, which is progress, not a result:\n%s", never, got)
		}
	}
}

func TestSummarizeStopped(t *testing.T) {
	lines := strings.Split(`[  OK  ] early: done (1s)
[FAILED] secrets: lighthouse/jwt.hex is missing (10ms)
========================================================================
HOMESTAKER BOOT STOPPED in stage secrets
  now:      powering off (homestaker.onfail=poweroff)`, "\n")
	got, ok := summarize(lines)
	if ok {
		t.Errorf("a stopped boot summed up as booted:\n%s", got)
	}
	for _, want := range []string{
		"    [FAILED] secrets: lighthouse/jwt.hex is missing (10ms)\n",
		"  HOMESTAKER BOOT STOPPED in stage secrets: the banner above says why and what to do\n",
		"  the next system never started\n",
		"demo: the chain did not reach the next system\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("the summary lacks %q:\n%s", want, got)
		}
	}
}
