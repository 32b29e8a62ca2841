package main

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/homestaker/homestaker-boot/init/atomicfile"
)

// writePXE fills m.pxeDir with boot.ipxe and the files it names, and
// returns the bytes a machine fetches to boot.
func writePXE(m bootMedia, initramfs string) (int64, error) {
	if err := os.MkdirAll(m.pxeDir, 0o755); err != nil {
		return 0, err
	}
	var total int64
	for _, f := range m.files(initramfs) {
		n, err := copyFile(f.src, filepath.Join(m.pxeDir, f.name))
		if err != nil {
			return 0, err
		}
		total += n
	}
	script := ipxeScript(m.cmdline, m.initrdNames())
	if err := atomicfile.Replace(filepath.Join(m.pxeDir, ipxeName), []byte(script), 0o644); err != nil {
		return 0, err
	}
	return total + int64(len(script)), nil
}

// ipxeScript boots vmlinuz with initrds, all named relative to the
// script's own URL, so one folder served over TFTP or HTTP is enough.
// Under BIOS iPXE concatenates the initrds for the kernel; under UEFI the
// kernel's EFI stub loads the ones its command line names with initrd=.
func ipxeScript(cmdline string, initrds []string) string {
	var b strings.Builder
	b.WriteString("#!ipxe\nkernel " + kernelName)
	if cmdline != "" {
		b.WriteString(" " + cmdline)
	}
	for _, n := range initrds {
		b.WriteString(" initrd=" + n)
	}
	b.WriteString("\n")
	for _, n := range initrds {
		b.WriteString("initrd " + n + "\n")
	}
	b.WriteString("boot\n")
	return b.String()
}
