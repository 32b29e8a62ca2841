// Command demo boots the whole chain in QEMU for a person to watch: the
// test kernel with our initramfs, a demo disk made by `homestaker prepare`,
// a WireGuard peer on the host for the tunnel, and a HomestakerOS-shaped
// kexec tree whose stage 2 prints what it got, reads the boot report back
// from the volume and powers off. The console is yours (QEMU quits with
// Ctrl-A X); at the end the demo sums up what it showed.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/homestaker/homestaker-boot/vmtest/fixture"
)

func main() {
	initramfs := flag.String("initramfs", "build/initramfs.cpio.zst", "our initramfs")
	kernel := flag.String("kernel", "build/vmlinuz", "the kernel")
	modules := flag.String("modules-dir", "", "the kernel's lib/modules/VERSION, for the stage 2 to mount the volume (default: the test kernel's in .cache)")
	cli := flag.String("cli", "build/homestaker", "the homestaker CLI, to prepare the demo disk")
	accel := flag.String("accel", "tcg,thread=single", "QEMU accelerator (one host thread for the vCPUs: see vmtest/harness_test.go probeAccel)")
	appendArgs := flag.String("append", "", "extra kernel command line parameters")
	flag.Parse()
	if err := run(*initramfs, *kernel, *modules, *cli, *accel, *appendArgs); err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		os.Exit(1)
	}
}

func run(initramfs, kernel, modules, cli, accel, extra string) error {
	root, err := os.Getwd()
	if err != nil {
		return err
	}
	if modules == "" {
		if _, modules, err = fixture.Kernel(root); err != nil {
			return err
		}
	}
	tmp, err := os.MkdirTemp("", "homestaker-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	// The tunnel's far end, and the time server the user network lacks.
	peer, err := fixture.StartPeer("10.99.0.1")
	if err != nil {
		return err
	}
	defer peer.Close()
	stopNTP, err := fixture.ServeNTP()
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		// A VM test run serves it; any SNTP server there will do.
		fmt.Printf("demo: 127.0.0.1:123 is taken, using the NTP server already there\n")
	case err != nil:
		return fmt.Errorf("NTP server on 127.0.0.1:123 (run as root): %v", err)
	default:
		defer stopNTP()
	}

	disk := filepath.Join(tmp, "demo-disk.img")
	if err := os.WriteFile(disk, nil, 0o644); err != nil {
		return err
	}
	if err := os.Truncate(disk, 512<<20); err != nil {
		return err
	}
	prep := exec.Command(cli, "prepare", "--wg-address", "10.99.0.2/32", "--wg-peer-public-key", peer.PublicKey(),
		"--wg-endpoint", fmt.Sprintf("10.0.2.2:%d", peer.Port), "--wg-allowed-ips", "10.99.0.0/24", "--wg-keepalive", "25", disk)
	prep.Stdout, prep.Stderr = os.Stdout, os.Stderr
	fmt.Printf("demo: %s\n", strings.Join(prep.Args, " "))
	if err := prep.Run(); err != nil {
		return fmt.Errorf("homestaker prepare: %v", err)
	}
	node, err := fixture.NodeKey(disk, "secrets/wireguard/wg0.conf")
	if err != nil {
		return err
	}
	if err := peer.Allow(node, "10.99.0.2/32"); err != nil {
		return err
	}

	// With its modules the stage 2 mounts the volume and reads the boot
	// report back, as HomestakerOS would.
	stage2, err := fixture.BuildStage2(root, tmp, modules)
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
	cmdline := strings.TrimSpace("console=ttyS0 panic=-1 homestaker.next=initramfs:/next homestaker.ntp=10.0.2.2 " + extra)
	args := []string{"-accel", accel, "-cpu", "max", "-smp", "2", "-m", "2G", "-nographic", "-no-reboot",
		"-device", "virtio-rng-pci", "-nic", "user,model=virtio-net-pci",
		"-drive", "file=" + strings.ReplaceAll(disk, ",", ",,") + ",if=virtio,format=raw",
		"-kernel", kernel, "-initrd", img, "-append", cmdline}
	fmt.Printf("demo: qemu-system-x86_64 %s\n", strings.Join(args, " "))
	cmd := exec.Command("qemu-system-x86_64", args...)
	var console transcript
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, io.MultiWriter(os.Stdout, &console), os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("qemu-system-x86_64: %v", err)
	}
	summary, ok := summarize(console.Lines())
	fmt.Print(summary)
	if !ok {
		return fmt.Errorf("the boot did not reach the next system (the console above says where it stopped)")
	}
	return nil
}
