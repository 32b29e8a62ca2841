// Command initramfs builds the homestaker-boot initramfs: our init as
// /init, a small u-root rescue toolset, the kernel modules a node needs for
// one kernel, baked-in configuration defaults, and extra files; written as a
// zstd-compressed cpio archive. The same inputs give the same bytes.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
)

// The default module list: NICs and disks found in home staking servers,
// virtio for QEMU, Btrfs, ext4 and xfs for the volume and tun for the WireGuard tunnel.
// Dependencies (modules.dep) and soft dependencies (modules.softdep) are
// added by the closure.
var defaultModules = []string{
	"virtio_rng", "virtio_pci", "virtio_net", "virtio_blk", "virtio_scsi",
	"e1000", "e1000e", "igb", "igc", "ixgbe", "r8169",
	"nvme", "ahci", "sd_mod", "usb_storage", "uas", "xhci_pci", "ehci_pci",
	"btrfs", "ext4", "xfs", "tun",
	"8021q", // vlan=
	// Hardware watchdogs: QEMU's, Intel's TCO (through lpc_ich) and AMD's.
	"i6300esb", "lpc_ich", "iTCO_wdt", "sp5100_tco",
}

func main() {
	var o options
	flag.StringVar(&o.output, "o", "build/initramfs.cpio.zst", "output file")
	flag.StringVar(&o.modulesDir, "modules-dir", "", "the kernel's lib/modules/VERSION directory; empty: no modules")
	mods := flag.String("modules", strings.Join(defaultModules, ","), "comma-separated modules (names or aliases) to carry, with their dependencies")
	flag.StringVar(&o.defaults, "defaults", "", "kernel command line parameters baked in as defaults, e.g. 'homestaker.onfail=reboot:60'")
	files := flag.String("files", "", "comma-separated extra files SRC:DST to add")
	keys := flag.String("trusted-keys", "", "comma-separated minisign public key files the init trusts for next stages (homestaker.verify=signature by default when given)")
	authKeys := flag.String("authorized-keys", "", "comma-separated OpenSSH authorized_keys files whose keys may log in to the rescue SSH server (besides the volume's secrets/ssh/authorized_keys)")
	flag.StringVar(&o.caBundle, "ca-bundle", "/etc/ssl/certs/ca-certificates.crt", "CA bundle for https next-stage sources; empty: none")
	flag.StringVar(&o.tempDir, "tmp", "", "temporary directory (default: a new one under $TMPDIR)")
	flag.StringVar(&o.media.kernel, "kernel", "", "the vmlinuz that -pxe and -usb boot (the kernel of -modules-dir)")
	flag.StringVar(&o.media.cmdline, "cmdline", defaultCmdline, "kernel command line of boot.ipxe and the USB loader entry (homestaker.* defaults go in -defaults)")
	initrds := flag.String("extra-initrd", "", "comma-separated cpio archives that -pxe and -usb load after the initramfs, e.g. a next stage")
	flag.StringVar(&o.media.pxeDir, "pxe", "", "also write DIR/boot.ipxe and the kernel and initrds it names, to serve over TFTP or HTTP")
	flag.StringVar(&o.media.usbImage, "usb", "", "also write a GPT disk image that boots under UEFI from a USB stick")
	flag.StringVar(&o.media.efiLoader, "efi-loader", systemdBoot, "the UEFI loader of -usb, written as \\EFI\\BOOT\\BOOTX64.EFI")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: initramfs [flags]\n\nBuilds the homestaker-boot initramfs.\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 0 {
		flag.Usage()
		os.Exit(2)
	}
	o.modules = splitList(*mods)
	o.files = splitList(*files)
	o.trustedKeys = splitList(*keys)
	o.authorizedKeys = splitList(*authKeys)
	o.media.extraInitrds = splitList(*initrds)
	if err := o.media.check(); err != nil {
		fmt.Fprintf(os.Stderr, "initramfs: %v\n", err)
		os.Exit(2)
	}
	if err := build(o); err != nil {
		fmt.Fprintf(os.Stderr, "initramfs: %v\n", err)
		os.Exit(1)
	}
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
