package vmtest

import (
	"strings"
	"testing"

	"github.com/hugelgupf/vmtest/qemu"

	"github.com/homestaker/homestaker-boot/vmtest/fixture"
)

// The node on VLAN 5 of an 802.1Q segment whose DHCP server hears only
// frames tagged 5: ifname= pins the NIC's name by its MAC, vlan= makes
// lan0.5 on it, and the default ip=dhcp configures the VLAN, not its
// parent.
func TestNetworkVLAN(t *testing.T) {
	d, before := faultDisk(t)
	l2, err := fixture.StartL2Net(fixture.L2Options{
		ServerIP: mustAddr("10.0.5.1"), Prefix: mustPrefix("10.0.5.0/24"), ClientIP: mustAddr("10.0.5.15"), VLAN: 5,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	args := append([]string{"ifname=lan0:" + fixture.L2GuestMAC, "vlan=lan0.5:lan0", "homestaker.ntp=10.0.5.1"}, faultArgs...)
	vm := BootNIC(t, "none", stage2Initramfs(t), args, Drive(d.Path), qemu.ArbitraryArgs(l2.QEMUArgs("n1")...))
	out := vm.Expect("[  OK  ] network: lan0.5 10.0.5.15/24 by DHCP")
	expectStage2(t, vm)
	// The kernel itself logs the rename ("lan0: renamed from eth0"); no
	// line of the init may still use the kernel's name.
	if !strings.Contains(out, "lan0: renamed from eth0") || strings.Contains(out, "network: eth0") {
		t.Errorf("the NIC was not renamed lan0 by ifname=:\n%s", out)
	}
	if !l2.Leased() {
		t.Error("the VLAN's DHCP server leased nothing")
	}
	d.AssertDataUnchanged(before)
}
