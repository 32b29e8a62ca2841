package main

import (
	"reflect"
	"testing"
)

func TestParseMountinfo(t *testing.T) {
	const text = `22 27 0:21 / /proc rw,relatime - proc proc rw
36 27 0:33 / /mnt/my\040disk rw,relatime shared:1 - btrfs /dev/loop3 rw,subvolid=5,subvol=/
37 27 8:1 / /boot rw master:2 unbindable - ext4 /dev/sda1 rw
garbage
`
	want := []mountEntry{
		{Dev: "0:21", MountPoint: "/proc", FSType: "proc", Source: "proc", Options: "rw,relatime"},
		{Dev: "0:33", MountPoint: "/mnt/my disk", FSType: "btrfs", Source: "/dev/loop3", Options: "rw,relatime"},
		{Dev: "8:1", MountPoint: "/boot", FSType: "ext4", Source: "/dev/sda1", Options: "rw"},
	}
	if got := parseMountinfo(text); !reflect.DeepEqual(got, want) {
		t.Errorf("parseMountinfo =\n%+v\nwant\n%+v", got, want)
	}
}

func TestParseSwaps(t *testing.T) {
	const text = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n/dev/zram0 partition 4194300 0 100\n/swap\\040file file 1024 0 -2\n"
	if got, want := parseSwaps(text), []string{"/dev/zram0", "/swap file"}; !reflect.DeepEqual(got, want) {
		t.Errorf("parseSwaps = %q, want %q", got, want)
	}
}
