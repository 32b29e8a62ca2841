package kmod

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A modules directory like the initramfs's: btrfs and tun for the boot,
// virtio and USB drivers for devices, e1000's aliases without its file, a
// built-in button driver.
var (
	coldplugDep = `kernel/fs/btrfs/btrfs.ko.xz: kernel/crypto/xor.ko.xz kernel/lib/raid6/raid6_pq.ko.xz kernel/lib/libcrc32c.ko.xz
kernel/crypto/xor.ko.xz:
kernel/lib/raid6/raid6_pq.ko.xz:
kernel/lib/libcrc32c.ko.xz:
kernel/crypto/crc32c_generic.ko.xz:
kernel/arch/x86/crypto/crc32c-intel.ko.xz:
kernel/drivers/net/tun.ko.xz:
kernel/drivers/virtio/virtio_ring.ko.xz:
kernel/drivers/virtio/virtio.ko.xz: kernel/drivers/virtio/virtio_ring.ko.xz
kernel/drivers/virtio/virtio_pci.ko.xz: kernel/drivers/virtio/virtio.ko.xz kernel/drivers/virtio/virtio_ring.ko.xz
kernel/drivers/char/hw_random/virtio-rng.ko.xz: kernel/drivers/virtio/virtio.ko.xz kernel/drivers/virtio/virtio_ring.ko.xz
kernel/drivers/net/virtio_net.ko.xz: kernel/drivers/net/net_failover.ko.xz kernel/net/core/failover.ko.xz kernel/drivers/virtio/virtio.ko.xz kernel/drivers/virtio/virtio_ring.ko.xz
kernel/drivers/net/net_failover.ko.xz: kernel/net/core/failover.ko.xz
kernel/net/core/failover.ko.xz:
kernel/drivers/block/virtio_blk.ko.xz: kernel/drivers/virtio/virtio.ko.xz kernel/drivers/virtio/virtio_ring.ko.xz
kernel/drivers/usb/common/usb-common.ko.xz:
kernel/drivers/usb/core/usbcore.ko.xz: kernel/drivers/usb/common/usb-common.ko.xz
kernel/drivers/usb/host/xhci-hcd.ko.xz: kernel/drivers/usb/core/usbcore.ko.xz kernel/drivers/usb/common/usb-common.ko.xz
kernel/drivers/usb/host/xhci-pci.ko.xz: kernel/drivers/usb/host/xhci-hcd.ko.xz kernel/drivers/usb/core/usbcore.ko.xz kernel/drivers/usb/common/usb-common.ko.xz
kernel/drivers/scsi/scsi_mod.ko.xz:
kernel/drivers/usb/storage/usb-storage.ko.xz: kernel/drivers/usb/core/usbcore.ko.xz kernel/drivers/usb/common/usb-common.ko.xz kernel/drivers/scsi/scsi_mod.ko.xz
kernel/drivers/regulator/reg-dummy.ko.xz:
kernel/drivers/net/ethernet/realtek/r8169.ko.xz:
`
	coldplugSoftdep = `softdep btrfs pre: crc32c
softdep libcrc32c pre: crc32c
`
	coldplugAlias = `alias crc32c crc32c_intel
alias crc32c crc32c_generic
alias cpu:type:x86,ven*fam*mod*:feature:*0094* crc32c_intel
alias fs-btrfs btrfs
alias devname:net/tun tun
alias char-major-10-200 tun
alias pci:v00001AF4d*sv*sd*bc*sc*i* virtio_pci
alias virtio:d00000001v* virtio_net
alias virtio:d00000002v* virtio_blk
alias virtio:d00000004v* virtio_rng
alias pci:v00008086d0000100Esv*sd*bc*sc*i* e1000
alias pci:v*d*sv*sd*bc0Csc03i30* xhci_pci
alias usb:v*p*d*dc*dsc*dp*ic08isc06ip50in* usb_storage
alias platform:reg-dummy reg_dummy
alias pci:v000010ECd00008168sv*sd*bc*sc*i* r8169
alias acpi*:PNP0C0C:* button
`
	coldplugBuiltin = `kernel/drivers/acpi/button.ko
`
)

// Modaliases of the devices of a QEMU q35 machine.
const (
	pciVirtioNet = "pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00"
	pciVirtioBlk = "pci:v00001AF4d00001001sv00001AF4sd00000002bc01sc00i00"
	pciE1000     = "pci:v00008086d0000100Esv00001AF4sd00001100bc02sc00i00"
	pciXHCI      = "pci:v00001B36d0000000Dsv00001AF4sd00001100bc0Csc03i30"
	acpiButton   = "acpi:PNP0C0C:"
	virtioNet    = "virtio:d00000001v00001AF4"
	virtioBlk    = "virtio:d00000002v00001AF4"
	virtioRNG    = "virtio:d00000004v00001AF4"
	usbRootHub   = "usb:v1D6Bp0003d0601dc09dsc00dp03ic09isc00ip00in00"
)

func coldplugIndex(t testing.TB) *Index {
	t.Helper()
	ix, err := ReadIndex(writeFiles(t, map[string]string{
		"modules.dep":     coldplugDep,
		"modules.softdep": coldplugSoftdep,
		"modules.alias":   coldplugAlias,
		"modules.builtin": coldplugBuiltin,
	}))
	if err != nil {
		t.Fatal(err)
	}
	return ix
}

// machine is what /sys/devices shows: devices appear once their bus
// driver has loaded.
type machine struct {
	k       *fakeKernel
	devices map[string][]string // driver ("" for none) -> modaliases it makes appear
	extra   func(scan int) []string

	rounds [][]string // modules started before each scan since the one before, sorted
	seen   int        // len(k.started) at the last scan
}

func (m *machine) scan() ([]string, error) {
	m.k.mu.Lock()
	defer m.k.mu.Unlock()
	if len(m.rounds) > 0 || len(m.k.started) > 0 {
		m.rounds = append(m.rounds, slices.Sorted(slices.Values(m.k.started[m.seen:])))
	}
	m.seen = len(m.k.started)
	var out []string
	for drv, as := range m.devices {
		if drv == "" || m.k.finished[drv] && m.k.fail[drv] == nil {
			out = append(out, as...)
		}
	}
	if m.extra != nil {
		out = append(out, m.extra(len(m.rounds))...)
	}
	return out, nil
}

func (m *machine) checkRounds(t *testing.T, want ...[]string) {
	t.Helper()
	if len(m.rounds) != len(want) {
		t.Fatalf("%d rounds %q, want %d: %q", len(m.rounds), m.rounds, len(want), want)
	}
	for i := range want {
		if !slices.Equal(m.rounds[i], want[i]) {
			t.Errorf("round %d loaded %q, want %q", i+1, m.rounds[i], want[i])
		}
	}
}

func TestColdplugRounds(t *testing.T) {
	ix := coldplugIndex(t)
	k := newFakeKernel(t, ix)
	m := &machine{k: k, devices: map[string][]string{
		"":           {pciVirtioNet, pciE1000, acpiButton},
		"virtio_pci": {virtioNet},
	}}
	var logged []string
	res, err := coldplug(context.Background(), ix, nil, m.scan, k.load, func(f string, a ...any) {
		logged = append(logged, fmt.Sprintf(f, a...))
	})
	if err != nil {
		t.Fatal(err)
	}
	// e1000 matches but is not carried; button is built in.
	m.checkRounds(t,
		[]string{"virtio", "virtio_pci", "virtio_ring"},
		[]string{"failover", "net_failover", "virtio_net"},
	)
	wantLog := []string{
		"kernel modules: device scan 1: 3 new modaliases, loading virtio virtio_pci virtio_ring",
		"kernel modules: device scan 2: 1 new modaliases, loading failover net_failover virtio_net",
		"kernel modules: 6 of 6 loaded (0 already), 0 failed, 0 skipped, in ",
	}
	if len(logged) != 3 || logged[0] != wantLog[0] || logged[1] != wantLog[1] ||
		!strings.HasPrefix(logged[2], wantLog[2]) || !strings.HasSuffix(logged[2], ", 3 device scans") {
		t.Errorf("logged %q\nwant %q... , 3 device scans", logged, wantLog)
	}
	var got []string
	for _, r := range res.Modules {
		got = append(got, r.Name)
		if r.Err != nil || r.Duration <= 0 {
			t.Errorf("%+v, want loaded", r)
		}
	}
	want := []string{"virtio_ring", "virtio", "virtio_pci", "failover", "net_failover", "virtio_net"}
	if !slices.Equal(got, want) {
		t.Errorf("result %q, want %q", got, want)
	}
	if res.Duration <= 0 {
		t.Errorf("Duration %v", res.Duration)
	}
}

func TestColdplugAlways(t *testing.T) {
	ix := coldplugIndex(t)
	k := newFakeKernel(t, ix)
	for _, c := range []string{"crc32c_generic", "crc32c_intel"} {
		k.mustFollow("btrfs", c)
		k.mustFollow("libcrc32c", c)
	}
	m := &machine{k: k}
	always := []string{"btrfs", "tun", "nosuch", "button", "fs-btrfs"}
	res, err := coldplug(context.Background(), ix, always, m.scan, k.load, nil)
	checkErr(t, err, "kernel modules: 1 of 8 not loaded: nosuch: no such module, alias or built-in module in "+ix.dir)
	m.checkRounds(t, []string{"btrfs", "crc32c_generic", "crc32c_intel", "libcrc32c", "raid6_pq", "tun", "xor"})
	last := res.Modules[len(res.Modules)-1]
	if last.Name != "nosuch" || last.Err == nil || last.Skipped {
		t.Errorf("last result %+v, want nosuch failed", last)
	}
}

func TestColdplugAcrossRounds(t *testing.T) {
	ix := coldplugIndex(t)
	k := newFakeKernel(t, ix)
	k.fail["failover"] = fmt.Errorf("finit_module: %w", syscall.ENOEXEC)
	k.fail["virtio_ring"] = fmt.Errorf("finit_module: %w", syscall.EEXIST)
	// virtio_rng appears with the others in round 2 and goes first.
	k.mustFollow("virtio_blk", "virtio_rng")
	m := &machine{k: k, devices: map[string][]string{
		"":           {pciVirtioNet, pciVirtioBlk, pciXHCI},
		"virtio_pci": {virtioNet, virtioBlk, virtioRNG},
		"xhci_pci":   {usbRootHub}, // its hub driver is in usbcore
	}}
	res, err := coldplug(context.Background(), ix, []string{"failover"}, m.scan, k.load, nil)
	checkErr(t, err, "kernel modules: 3 of 12 not loaded: failover: finit_module: exec format error; skipped: net_failover, virtio_net")
	m.checkRounds(t,
		[]string{"failover", "usb_common", "usbcore", "virtio", "virtio_pci", "virtio_ring", "xhci_hcd", "xhci_pci"},
		[]string{"virtio_blk", "virtio_rng"},
	)
	r := results(res)
	if got := r["net_failover"]; !got.Skipped || fmt.Sprint(got.Err) != "needs failover, which failed" {
		t.Errorf("net_failover: %+v, want skipped for failover", got)
	}
	if got := r["virtio_net"]; !got.Skipped || fmt.Sprint(got.Err) != "needs net_failover, which was skipped" {
		t.Errorf("virtio_net: %+v, want skipped for net_failover", got)
	}
	if got := r["virtio_ring"]; got.Err != nil || !got.AlreadyLoaded {
		t.Errorf("virtio_ring: %+v, want already loaded", got)
	}
	if got := r["virtio_rng"]; got.Err != nil {
		t.Errorf("virtio_rng: %+v, want loaded after an already loaded virtio_ring", got)
	}
}

func TestColdplugBounded(t *testing.T) {
	t.Run("new modaliases matching nothing", func(t *testing.T) {
		ix := coldplugIndex(t)
		k := newFakeKernel(t, ix)
		scans := 0
		scan := func() ([]string, error) {
			scans++
			return []string{fmt.Sprintf("usb:v1D6Bp%04Xd0601dc09", scans)}, nil
		}
		res, err := coldplug(context.Background(), ix, []string{"tun"}, scan, k.load, nil)
		if err != nil || scans != 2 || len(res.Modules) != 1 {
			t.Errorf("%d scans, result %+v, %v; want 2 scans, tun loaded", scans, res, err)
		}
	})
	t.Run("each driver brings a device for the next", func(t *testing.T) {
		var dep, alias strings.Builder
		devices := map[string][]string{"": {"chain:0"}}
		for i := range 10 {
			fmt.Fprintf(&dep, "kernel/m%d.ko:\n", i)
			fmt.Fprintf(&alias, "alias chain:%d m%d\n", i, i)
			devices[fmt.Sprintf("m%d", i)] = []string{fmt.Sprintf("chain:%d", i+1)}
		}
		ix, err := ReadIndex(writeFiles(t, map[string]string{"modules.dep": dep.String(), "modules.alias": alias.String()}))
		if err != nil {
			t.Fatal(err)
		}
		k := newFakeKernel(t, ix)
		m := &machine{k: k, devices: devices, extra: func(n int) []string { return []string{fmt.Sprintf("junk:%d", n)} }}
		res, err := coldplug(context.Background(), ix, nil, m.scan, k.load, nil)
		if err != nil || len(res.Modules) != 10 || len(m.rounds) != 10 {
			t.Errorf("%d rounds, %d modules, %v; want 10 of each", len(m.rounds), len(res.Modules), err)
		}
	})
}

func TestColdplugScanError(t *testing.T) {
	ix := coldplugIndex(t)
	k := newFakeKernel(t, ix)
	scans := 0
	scan := func() ([]string, error) {
		scans++
		return nil, errors.New("lstat /sys/devices: no such file or directory")
	}
	res, err := coldplug(context.Background(), ix, []string{"tun"}, scan, k.load, nil)
	checkErr(t, err, "kernel modules: device scan 1: lstat /sys/devices: no such file or directory")
	if scans != 1 || len(res.Modules) != 1 || res.Modules[0].Err != nil {
		t.Errorf("%d scans, result %+v; want 1 scan and tun loaded", scans, res)
	}
}

func TestColdplugDeadline(t *testing.T) {
	ix := coldplugIndex(t)
	k := newFakeKernel(t, ix)
	release := make(chan struct{})
	k.block["virtio_net"] = release
	t.Cleanup(func() { close(release) })
	m := &machine{k: k, devices: map[string][]string{
		"":           {pciVirtioNet},
		"virtio_pci": {virtioNet},
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	res, err := coldplug(ctx, ix, nil, m.scan, k.load, nil)
	checkErr(t, err, "kernel modules: 1 of 6 not loaded: virtio_net: still loading when the deadline passed: context deadline exceeded; stopped after device scan 2: context deadline exceeded")
	if len(m.rounds) != 1 || len(res.Modules) != 6 {
		t.Errorf("%d scans, %d results; want 2 scans, 6 results", len(m.rounds)+1, len(res.Modules))
	}

	k = newFakeKernel(t, ix)
	m = &machine{k: k, devices: m.devices}
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	res, err = coldplug(ctx, ix, []string{"tun"}, m.scan, k.load, nil)
	checkErr(t, err, "kernel modules: 4 of 4 not loaded: skipped: tun, virtio_ring, virtio, virtio_pci; stopped after device scan 1: context canceled")
	if len(k.started) != 0 {
		t.Errorf("started %q after cancel", k.started)
	}
}
