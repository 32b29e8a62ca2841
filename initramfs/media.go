package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// The names the kernel and the initramfs get on every boot medium, so that
// boot.ipxe and the loader entry never depend on the builder's file names.
const (
	kernelName    = "vmlinuz"
	initramfsName = "initramfs.cpio.zst"
	ipxeName      = "boot.ipxe"
)

// defaultCmdline is the boot media's kernel command line: consoles only,
// since the homestaker.* defaults are baked into the initramfs. The last
// console= becomes /dev/console, so the init's banners go to the serial
// port, where a headless server's operator (or a BMC) reads them.
const defaultCmdline = "console=tty0 console=ttyS0,115200"

// systemdBoot is the UEFI loader of the USB image, from Debian's
// systemd-boot-efi.
const systemdBoot = "/usr/lib/systemd/boot/efi/systemd-bootx64.efi"

// bootMedia are the ways in written beside the initramfs: a PXE folder and
// a USB/UEFI disk image, both booting kernel with the initramfs, then the
// extra initrds, and cmdline.
type bootMedia struct {
	kernel       string   // -kernel: the vmlinuz whose modules the initramfs carries
	cmdline      string   // -cmdline
	extraInitrds []string // -extra-initrd: cpio archives loaded after the initramfs
	pxeDir       string   // -pxe: where boot.ipxe and its files go
	usbImage     string   // -usb: the disk image to write
	efiLoader    string   // -efi-loader: written as \EFI\BOOT\BOOTX64.EFI
}

func (m bootMedia) wanted() bool { return m.pxeDir != "" || m.usbImage != "" }

// check refuses flags that would only fail after the initramfs is built.
func (m bootMedia) check() error {
	if !m.wanted() {
		if m.kernel != "" || len(m.extraInitrds) > 0 {
			return errors.New("-kernel and -extra-initrd are for -pxe or -usb, and neither is given")
		}
		return nil
	}
	if m.kernel == "" {
		return errors.New("-pxe and -usb need -kernel, the vmlinuz to boot")
	}
	if strings.ContainsAny(m.cmdline, "\r\n") {
		return errors.New("-cmdline must be one line")
	}
	if _, err := os.Stat(m.kernel); err != nil {
		return fmt.Errorf("-kernel: %v", err)
	}
	// By lower-case name: FAT is case-insensitive.
	seen := map[string]string{kernelName: "-kernel", initramfsName: "the initramfs", ipxeName: "the PXE script",
		"efi": "the USB loader's folder", "loader": "the USB loader's folder"}
	for _, f := range m.extraInitrds {
		if _, err := os.Stat(f); err != nil {
			return fmt.Errorf("-extra-initrd: %v", err)
		}
		name := filepath.Base(f)
		if other, ok := seen[strings.ToLower(name)]; ok {
			return fmt.Errorf("-extra-initrd %s: its name %q is taken by %s on the boot media; rename it", f, name, other)
		}
		if strings.ContainsAny(name, " \t") {
			return fmt.Errorf("-extra-initrd %s: the name would split the kernel command line; rename it", f)
		}
		seen[strings.ToLower(name)] = f
	}
	if m.usbImage != "" {
		if _, err := os.Stat(m.efiLoader); err != nil {
			if m.efiLoader == systemdBoot {
				return fmt.Errorf("-usb needs systemd-boot (%s): apt-get install systemd-boot-efi", systemdBoot)
			}
			return fmt.Errorf("-efi-loader: %v", err)
		}
	}
	return nil
}

// mediaFile is a file on a boot medium and where it comes from.
type mediaFile struct {
	name string // on the medium, relative to its root
	src  string
}

// files are the kernel, then the initrds in the order they load.
func (m bootMedia) files(initramfs string) []mediaFile {
	out := []mediaFile{{kernelName, m.kernel}, {initramfsName, initramfs}}
	for _, f := range m.extraInitrds {
		out = append(out, mediaFile{filepath.Base(f), f})
	}
	return out
}

// initrdNames are the initrds' names on the boot media, in load order.
func (m bootMedia) initrdNames() []string {
	var out []string
	for _, f := range m.files("")[1:] {
		out = append(out, f.name)
	}
	return out
}

// writeBootMedia writes the PXE folder and the USB image that m asks for,
// booting the initramfs just built, and prints what they hold.
func writeBootMedia(w io.Writer, m bootMedia, initramfs string) error {
	if !m.wanted() {
		return nil
	}
	if err := m.check(); err != nil {
		return err
	}
	if m.pxeDir != "" {
		n, err := writePXE(m, initramfs)
		if err != nil {
			return fmt.Errorf("-pxe %s: %v", m.pxeDir, err)
		}
		fmt.Fprintf(w, "%s: %s to serve over TFTP or HTTP from %s\n", filepath.Join(m.pxeDir, ipxeName), size(n), m.pxeDir)
	}
	if m.usbImage != "" {
		l, err := writeUSB(m, initramfs)
		if err != nil {
			return fmt.Errorf("-usb %s: %v", m.usbImage, err)
		}
		fmt.Fprintf(w, "%s: %s (EFI system partition %s holding %s; %s partition %q left empty)\n",
			m.usbImage, size(l.imageSize), size(l.espSize), size(l.payload), size(l.filesSize), filesPartName)
	}
	return nil
}

// copyFile copies src to dst through a temporary file, so a reader never
// sees half a kernel. A dst that is src already (-pxe build next to
// build/vmlinuz) is left alone.
func copyFile(src, dst string) (int64, error) {
	si, err := os.Stat(src)
	if err != nil {
		return 0, err
	}
	if di, err := os.Stat(dst); err == nil && os.SameFile(si, di) {
		return si.Size(), nil
	}
	in, err := os.Open(src)
	if err != nil {
		return 0, err
	}
	defer in.Close()
	tmp := dst + ".tmp"
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(out, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return 0, fmt.Errorf("copying %s to %s: %v", src, dst, err)
	}
	return n, os.Rename(tmp, dst)
}
