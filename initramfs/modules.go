package main

import (
	"fmt"
	"slices"

	"github.com/homestaker/homestaker-boot/init/kmod"
)

// defaultModules is the driver list of the default initramfs: the one
// place to add a driver (a module name as modules.dep spells it, '-' or
// '_' alike). The closure adds dependencies (modules.dep) and soft
// dependencies (modules.softdep). Carrying a driver costs size, not boot
// time: the init's coldplug loads a driver only when a device present has
// a modalias that matches one of its modules.alias lines, except the
// modules in kmod.BootModules, which no device asks for.
var defaultModules = slices.Concat(
	// QEMU and other KVM hosts.
	[]string{"virtio_rng", "virtio_pci", "virtio_net", "virtio_blk", "virtio_scsi"},
	// VMware (vmxnet3, the PVSCSI HBA) and Hyper-V (the VMBus and its
	// network and storage devices).
	[]string{"vmxnet3", "vmw_pvscsi", "hv_vmbus", "hv_netvsc", "hv_storvsc"},
	// Ethernet NICs of desktops, mini PCs and used servers.
	[]string{
		"e1000", "e1000e", "igb", "igc", "ixgbe", "i40e", "ice", // Intel
		// Realtek: r8169 for the RTL8111/8168 family; 8139too and
		// 8139cp for the RTL8139 (8139too leaves the C+ chip, QEMU's
		// rtl8139 among them, to 8139cp).
		"r8169", "8139too", "8139cp",
		"tg3", "bnx2", "bnx2x", "bnxt_en", // Broadcom
		"mlx4_en", "mlx5_core", // Mellanox
		"atlantic", // Aquantia (Marvell) AQtion
		"sky2",     // Marvell Yukon 2
	},
	// Storage HBAs of used servers: Broadcom/LSI MegaRAID and Fusion-MPT
	// (SAS2/SAS3 and the older SAS1068), HPE Smart Array (hpsa, and
	// smartpqi for Gen10), Adaptec.
	[]string{"megaraid_sas", "mpt3sas", "mptsas", "hpsa", "smartpqi", "aacraid"},
	// Disks: SATA, NVMe, USB (the host controllers and mass storage) and
	// SD/eMMC. sd_mod is loaded on every boot (kmod.BootModules); for
	// mmc_block see builderSoftdeps.
	[]string{"ahci", "nvme", "sd_mod", "xhci_pci", "ehci_pci", "usb_storage", "uas", "sdhci_pci", "mmc_block"},
	// The volume's filesystems and the WireGuard tunnel's tun.
	[]string{"btrfs", "ext4", "xfs", "tun"},
	[]string{"8021q"}, // vlan=
	// Hardware watchdogs: QEMU's, Intel's TCO (through lpc_ich) and AMD's.
	[]string{"i6300esb", "lpc_ich", "iTCO_wdt", "sp5100_tco"},
)

// builderSoftdeps are soft dependencies the builder adds to the trimmed
// modules.softdep, as a line in /etc/modprobe.d would, for "upper"
// drivers that bind to a device appearing only after its controller's
// driver has probed, asynchronously, so that no coldplug scan may see
// its modalias in time.
//
// mmc_block drives the card behind an SD/eMMC controller (sdhci_pci and
// the other host drivers, which all need mmc_core). The card is found by
// a work item after the host driver has loaded, usually after the init's
// last device scan; mmc_block is loaded with mmc_core instead, so it
// costs nothing on machines without an SD controller. The SCSI
// counterpart, sd_mod for the disks behind SATA, USB and the HBAs, is in
// kmod.BootModules: nearly every machine has one of those.
var builderSoftdeps = []kmod.Softdep{
	{Module: "mmc_core", Post: []string{"mmc_block"}},
}

// The words -modules takes besides module names.
const (
	modulesDefault = "default" // defaultModules
	modulesHost    = "host"    // the drivers of the machine the builder runs on
)

// expandModules replaces the words default and host in list by the
// modules they stand for; host is given by hostFn, called at most once.
func expandModules(list []string, hostFn func() ([]string, error)) ([]string, error) {
	var out []string
	for _, w := range list {
		switch w {
		case modulesDefault:
			out = append(out, defaultModules...)
		case modulesHost:
			host, err := hostFn()
			if err != nil {
				return nil, fmt.Errorf("-modules host: %v", err)
			}
			out = append(out, host...)
		default:
			out = append(out, w)
		}
	}
	return out, nil
}
