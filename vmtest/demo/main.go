// Command demo boots the whole chain in QEMU for a person to watch: the
// test kernel with our initramfs, a HomestakerOS-shaped kexec tree added to
// it, and the stage-2 payload at the end. The console is yours; QEMU exits
// when the stage 2 powers off (or with Ctrl-A X).
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/homestaker/homestaker-boot/vmtest/fixture"
)

func main() {
	initramfs := flag.String("initramfs", "build/initramfs.cpio.zst", "our initramfs")
	kernel := flag.String("kernel", "build/vmlinuz", "the kernel")
	accel := flag.String("accel", "tcg", "QEMU accelerator")
	appendArgs := flag.String("append", "", "extra kernel command line parameters")
	flag.Parse()
	if err := run(*initramfs, *kernel, *accel, *appendArgs); err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		os.Exit(1)
	}
}

func run(initramfs, kernel, accel, extra string) error {
	root, err := os.Getwd()
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "homestaker-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	stage2, err := fixture.BuildStage2(root, tmp)
	if err != nil {
		return err
	}
	recs, err := fixture.TreeRecords("next", kernel, stage2, fixture.Stage2Cmdline)
	if err != nil {
		return err
	}
	img := filepath.Join(tmp, "initramfs.cpio")
	if err := fixture.Append(img, initramfs, recs); err != nil {
		return err
	}
	cmdline := strings.TrimSpace("console=ttyS0 panic=-1 homestaker.next=initramfs:/next " + extra)
	args := []string{"-accel", accel, "-cpu", "max", "-smp", "2", "-m", "2G", "-nographic", "-no-reboot",
		"-device", "virtio-rng-pci", "-nic", "user,model=virtio-net-pci",
		"-kernel", kernel, "-initrd", img, "-append", cmdline}
	fmt.Printf("demo: qemu-system-x86_64 %s\n", strings.Join(args, " "))
	cmd := exec.Command("qemu-system-x86_64", args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	return cmd.Run()
}
