package storage

import (
	"strings"
	"testing"

	"github.com/homestaker/homestaker-boot/init/btrfs"
)

func dev(path, label string, fsid byte, devid, num uint64) Device {
	sb := &btrfs.Superblock{Label: label, DevID: devid, NumDevices: num}
	sb.FSID[0] = fsid
	return Device{Path: path, Type: FSBtrfs, Label: label, UUID: sb.FSIDString(), DevID: devid, NumDevices: num, SB: sb}
}

// single is a device with a one-device filesystem of type typ (ext4, xfs).
func single(path, typ, label, uuid string) Device {
	return Device{Path: path, Type: typ, Label: label, UUID: uuid, DevID: 1, NumDevices: 1}
}

func TestChoose(t *testing.T) {
	for _, tc := range []struct {
		name     string
		devs     []Device
		label    string
		labelSet bool
		want     string // FS label and members, "" = none
		complete bool
		fallback bool
		err      string
	}{
		{name: "nothing", devs: nil, label: "homestaker"},
		{name: "single", devs: []Device{dev("/dev/vda", "homestaker", 1, 1, 1), dev("/dev/vdb", "other", 2, 1, 1)}, label: "homestaker", want: "homestaker /dev/vda", complete: true},
		{name: "raid1 both", devs: []Device{dev("/dev/vdb", "homestaker", 1, 2, 2), dev("/dev/vda", "homestaker", 1, 1, 2)}, label: "homestaker", want: "homestaker /dev/vda,/dev/vdb", complete: true},
		{name: "raid1 one missing", devs: []Device{dev("/dev/vdb", "homestaker", 1, 2, 2)}, label: "homestaker", want: "homestaker /dev/vdb"},
		{name: "same member twice (multipath)", devs: []Device{dev("/dev/vda", "homestaker", 1, 1, 2), dev("/dev/vdc", "homestaker", 1, 1, 2)}, label: "homestaker", want: "homestaker /dev/vda"},
		{name: "fallback label", devs: []Device{dev("/dev/vda", "homestakeros", 1, 1, 1)}, label: "homestaker", want: "homestakeros /dev/vda", complete: true, fallback: true},
		{name: "default label wins over fallback", devs: []Device{dev("/dev/vda", "homestakeros", 1, 1, 1), dev("/dev/vdb", "homestaker", 2, 1, 1)}, label: "homestaker", want: "homestaker /dev/vdb", complete: true},
		{name: "no fallback when label given", devs: []Device{dev("/dev/vda", "homestakeros", 1, 1, 1)}, label: "homestaker", labelSet: true},
		{name: "two filesystems same label", devs: []Device{dev("/dev/vda", "homestaker", 1, 1, 1), dev("/dev/vdb", "homestaker", 2, 1, 1)}, label: "homestaker", err: "2 filesystems with that label: btrfs fsid 01000000-0000-0000-0000-000000000000 on /dev/vda; btrfs fsid 02000000-0000-0000-0000-000000000000 on /dev/vdb"},
		{name: "ext4", devs: []Device{single("/dev/sda1", FSExt4, "homestaker", "u1"), dev("/dev/vdb", "other", 2, 1, 1)}, label: "homestaker", want: "homestaker /dev/sda1", complete: true},
		{name: "xfs fallback label", devs: []Device{single("/dev/sda", FSXFS, "homestakeros", "u1")}, label: "homestaker", want: "homestakeros /dev/sda", complete: true, fallback: true},
		{name: "ext4 and Btrfs same label", devs: []Device{single("/dev/sda", FSExt4, "homestaker", "u1"), dev("/dev/vda", "homestaker", 1, 1, 1)}, label: "homestaker", err: "2 filesystems with that label: btrfs fsid 01000000-0000-0000-0000-000000000000 on /dev/vda; ext4 fsid u1 on /dev/sda"},
		{name: "xfs and ext4 same label", devs: []Device{single("/dev/sda", FSExt4, "homestaker", "u1"), single("/dev/sdb", FSXFS, "homestaker", "u2")}, label: "homestaker", err: "ext4 fsid u1 on /dev/sda; xfs fsid u2 on /dev/sdb"},
		{name: "same UUID, two types: two filesystems", devs: []Device{single("/dev/sda", FSExt4, "homestaker", "u1"), single("/dev/sdb", FSXFS, "homestaker", "u1")}, label: "homestaker", err: "2 filesystems with that label"},
		{name: "ext4 seen twice (multipath)", devs: []Device{single("/dev/sda", FSExt4, "homestaker", "u1"), single("/dev/sdb", FSExt4, "homestaker", "u1")}, label: "homestaker", want: "homestaker /dev/sda", complete: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Choose(tc.devs, tc.label, tc.labelSet)
			if tc.err != "" {
				if c.Err == nil || !strings.Contains(c.Err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", c.Err, tc.err)
				}
				return
			}
			if c.Err != nil {
				t.Fatal(c.Err)
			}
			got := ""
			if c.FS != nil {
				got = c.FS.Label + " " + strings.Join(c.FS.Paths(), ",")
				if c.FS.Complete() != tc.complete {
					t.Errorf("complete = %v, want %v", c.FS.Complete(), tc.complete)
				}
			}
			if got != tc.want || c.Fallback != tc.fallback {
				t.Errorf("chose %q (fallback %v), want %q (fallback %v)", got, c.Fallback, tc.want, tc.fallback)
			}
		})
	}
}
