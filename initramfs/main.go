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

func main() {
	var o options
	flag.StringVar(&o.output, "o", "build/initramfs.cpio.zst", "output file")
	flag.StringVar(&o.modulesDir, "modules-dir", "", "the kernel's lib/modules/VERSION directory; empty: no modules")
	mods := flag.String("modules", modulesDefault, "comma-separated modules (names or aliases) to carry, with their dependencies; the word default stands for the driver list of modules.go, host for the drivers of this machine (see README)")
	flag.StringVar(&o.firmwareDir, "firmware", "", "directory laid out as /lib/firmware (or a root holding lib/firmware, e.g. Debian firmware packages unpacked) to take the firmware files the carried modules declare from; empty: none")
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
	if o.modulesDir == "" && *mods != modulesDefault {
		fmt.Fprintf(os.Stderr, "initramfs: -modules needs -modules-dir (the kernel's lib/modules/VERSION)\n")
		os.Exit(2)
	}
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
