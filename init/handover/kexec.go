// Package handover gives the machine to the next stage.
package handover

import (
	"fmt"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/homestaker/homestaker-boot/init/nextstage"
	"github.com/homestaker/homestaker-boot/init/report"
)

// LoadKexec hands the tree's kernel, initrd and command line to the
// running kernel with kexec_file_load. The kernel reads the files itself,
// so a multi-GB initrd is never copied through our memory.
func LoadKexec(l *nextstage.Loaded, extra []string) (cmdline string, err error) {
	cmdline = strings.Join(append([]string{l.Tree.Cmdline}, extra...), " ")
	cmdline = strings.TrimSpace(cmdline)
	initrdFd, flags := -1, 0
	if l.Initrd != nil {
		initrdFd = int(l.Initrd.Fd())
	} else {
		flags |= unix.KEXEC_FILE_NO_INITRAMFS
	}
	if err := unix.KexecFileLoad(int(l.Kernel.Fd()), initrdFd, cmdline, flags); err != nil {
		return "", kexecFailure(l, err)
	}
	return cmdline, nil
}

// Jump syncs the disks and boots the loaded kernel. It returns only on
// failure.
func Jump() error {
	unix.Sync()
	if err := unix.Reboot(unix.LINUX_REBOOT_CMD_KEXEC); err != nil {
		return report.Fail("the kernel to start the loaded next stage", fmt.Sprintf("reboot(KEXEC): %v", err), "reboot the machine; if it repeats, try homestaker.handover=switchroot")
	}
	return nil
}

func kexecFailure(l *nextstage.Loaded, err error) error {
	found := fmt.Sprintf("kexec_file_load of %s/%s: %v", l.Dir, l.Tree.Kernel, err)
	action := "check that the tree's kernel is an x86_64 bzImage and that the initrd fits in memory"
	switch err {
	case unix.EKEYREJECTED, unix.EPERM:
		action = "the kernel is locked down (Secure Boot): only a kernel signed by a key it trusts can be loaded; sign the HomestakerOS kernel or disable Secure Boot"
	case unix.ENOMEM:
		action = "the next stage does not fit in memory; free memory or use a smaller initrd"
	case unix.ENOSYS:
		action = "this kernel was built without CONFIG_KEXEC_FILE; use homestaker.handover=switchroot"
	}
	return report.Fail("the next stage's kernel to load", found, action)
}
