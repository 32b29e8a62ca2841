package kmod

import (
	"reflect"
	"testing"
)

func TestCmdlineParams(t *testing.T) {
	got := CmdlineParams([]string{
		"console=ttyS0", "ip=dhcp", "quiet",
		"watchdog.stop_on_reboot=0",
		"i6300esb.heartbeat=30", "i6300esb.nowayout=1",
		"snd-hda-intel.model=auto", // '-' is '_' in module names
		"usbcore.quirks=0781:5580:i,1d6b:0002:k",
		"btrfs.debug",  // a bool without a value
		"dyndbg.x=a b", // a value with a space, unquoted by the caller
		".bad=1", "bad.=1",
	})
	want := map[string]string{
		"watchdog":      "stop_on_reboot=0",
		"i6300esb":      "heartbeat=30 nowayout=1",
		"snd_hda_intel": "model=auto",
		"usbcore":       "quirks=0781:5580:i,1d6b:0002:k",
		"btrfs":         "debug",
		"dyndbg":        `x="a b"`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("CmdlineParams = %v\nwant %v", got, want)
	}
}
