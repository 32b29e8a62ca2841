package main

import (
	"bytes"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/homestaker/homestaker-boot/init/kmod"
)

// -modules host picks the drivers of the devices present and the loaded
// modules the target kernel has, adds what the init always loads, and
// says what it left out.
func TestHostModules(t *testing.T) {
	modDir := t.TempDir()
	writeTestFile(t, filepath.Join(modDir, "modules.dep"), []byte(`kernel/drivers/net/ethernet/broadcom/tg3.ko: kernel/drivers/net/phy/libphy.ko
kernel/drivers/net/phy/libphy.ko:
kernel/drivers/scsi/megaraid/megaraid_sas.ko: kernel/drivers/scsi/scsi_mod.ko
kernel/drivers/scsi/scsi_mod.ko:
kernel/drivers/scsi/sd_mod.ko: kernel/drivers/scsi/scsi_mod.ko
kernel/drivers/net/ethernet/intel/e1000e/e1000e.ko:
kernel/net/ipv4/tunnel4.ko:
kernel/fs/btrfs/btrfs.ko:
kernel/fs/ext4/ext4.ko:
kernel/fs/xfs/xfs.ko:
kernel/drivers/net/tun.ko:
kernel/drivers/usb/storage/usb-storage.ko: kernel/drivers/scsi/scsi_mod.ko
kernel/drivers/usb/storage/uas.ko: kernel/drivers/usb/storage/usb-storage.ko
kernel/net/8021q/8021q.ko:
`))
	writeTestFile(t, filepath.Join(modDir, "modules.alias"), []byte(`alias pci:v000014E4d00001657sv*sd*bc*sc*i* tg3
alias pci:v00001000d0000005Bsv*sd*bc*sc*i* megaraid_sas
alias pci:v00008086d000010D3sv*sd*bc*sc*i* e1000e
alias scsi:t-0x00* sd_mod
`))
	ix, err := kmod.ReadIndex(modDir)
	if err != nil {
		t.Fatal(err)
	}
	sys := t.TempDir()
	writeTestFile(t, filepath.Join(sys, "pci0000:00/0000:00:01.0/modalias"), []byte("pci:v000014E4d00001657sv0000103Csd000022BEbc02sc00i00\n"))
	writeTestFile(t, filepath.Join(sys, "pci0000:00/0000:00:02.0/modalias"), []byte("pci:v00001000d0000005Bsv00001028sd00001F38bc01sc04i00\n"))
	writeTestFile(t, filepath.Join(sys, "pci0000:00/0000:00:03.0/modalias"), []byte("pci:v00001B36d00000001sv00001AF4sd00001100bc06sc04i00\n"))
	proc := filepath.Join(t.TempDir(), "modules")
	writeTestFile(t, proc, []byte(`tunnel4 16384 1 ipip, Live 0x0000000000000000
nvidia 56770560 0 - Live 0x0000000000000000 (POE)
libphy 151552 1 tg3, Live 0x0000000000000000
`))
	p, err := hostModules(ix, sys, proc)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"megaraid_sas", "tg3"}; !reflect.DeepEqual(p.devices, want) {
		t.Errorf("device modules %q, want %q", p.devices, want)
	}
	if want := []string{"libphy", "tunnel4"}; !reflect.DeepEqual(p.loaded, want) {
		t.Errorf("loaded modules %q, want %q", p.loaded, want)
	}
	if want := []string{"nvidia"}; !reflect.DeepEqual(p.absent, want) {
		t.Errorf("absent modules %q, want %q", p.absent, want)
	}
	want := []string{"8021q", "btrfs", "ext4", "libphy", "megaraid_sas", "sd_mod", "tg3", "tun", "tunnel4", "uas", "usb_storage", "xfs"}
	if got := p.modules(); !reflect.DeepEqual(got, want) {
		t.Errorf("modules %q, want %q", got, want)
	}
	mods, err := ix.Closure(p.modules())
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range mods {
		if m.Name == "e1000e" {
			t.Errorf("the closure carries e1000e, which no device of the host needs")
		}
	}
	var out bytes.Buffer
	p.print(&out, sys, proc)
	for _, w := range []string{
		"-modules host: 2 modules for 3 device modaliases under " + sys + ": megaraid_sas tg3\n",
		"-modules host: 2 modules loaded now (" + proc + "): libphy tunnel4\n",
		"not in the target kernel, left out: nvidia\n",
	} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("output lacks %q:\n%s", w, out.String())
		}
	}

	// Without /proc/modules (a container): the devices alone.
	p, err = hostModules(ix, sys, filepath.Join(sys, "no-proc-modules"))
	if err != nil {
		t.Fatal(err)
	}
	want = []string{"8021q", "btrfs", "ext4", "megaraid_sas", "sd_mod", "tg3", "tun", "uas", "usb_storage", "xfs"}
	if got := p.modules(); !reflect.DeepEqual(got, want) || !p.noProc {
		t.Errorf("without /proc/modules: modules %q (noProc %v), want %q", got, p.noProc, want)
	}
	out.Reset()
	p.print(&out, sys, "/proc/modules")
	if !strings.Contains(out.String(), "no /proc/modules (a kernel without loadable modules") {
		t.Errorf("output lacks the note on /proc/modules:\n%s", out.String())
	}

	if _, err := hostModules(ix, filepath.Join(sys, "nope"), proc); err == nil || !strings.Contains(err.Error(), "is sysfs mounted") {
		t.Errorf("no /sys/devices: %v", err)
	}
}

// The words default and host expand in place; names stay as given.
func TestExpandModules(t *testing.T) {
	got, err := expandModules([]string{"default", "mlx5_ib", "host"}, func() ([]string, error) { return []string{"tg3"}, nil })
	if err != nil {
		t.Fatal(err)
	}
	want := append(append(append([]string(nil), defaultModules...), "mlx5_ib"), "tg3")
	if !reflect.DeepEqual(got, want) {
		t.Errorf("expandModules = %q, want %q", got, want)
	}
}
