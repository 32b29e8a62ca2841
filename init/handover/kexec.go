// Package handover gives the machine to the next stage: by kexec into the
// next stage's kernel, or by switch_root into its initrd on this kernel.
//
// Where the kernel refuses kexec_file_load, the kexec_load fallback is our
// own loader over u-root's memory map and purgatory: u-root's
// linux.KexecLoad reads the whole kernel and decompresses it in Go to load
// its ELF (with decompressors this module does not otherwise build, such
// as github.com/therootcompany/xz), and its kexec.Load copies every
// segment, a multi-GB initrd included, into Go memory; ours places the
// bzImage as it is and maps the initrd from its open file.
package handover

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/homestaker/homestaker-boot/init/kexectree"
	"github.com/homestaker/homestaker-boot/init/report"
)

// The system calls Load may use.
const (
	SyscallFileLoad = "kexec_file_load"
	SyscallLoad     = "kexec_load"
)

// Kexec says how Load gave the kernel to the running kernel.
type Kexec struct {
	Syscall string // SyscallFileLoad, or SyscallLoad when the kernel refused the file load
	Refused error  // kexec_file_load's error when Syscall is SyscallLoad, with the header field its image probe refused
}

// Load hands kernel, initrd (nil for none) and cmdline to the running
// kernel with kexec_file_load: the kernel reads the files itself, so a
// multi-GB initrd is never copied through our memory. Where the kernel
// refuses that for a reason other than a signature policy (no
// CONFIG_KEXEC_FILE, an image it cannot parse), Load falls back to
// kexec_load as kexec-tools' --kexec-syscall-auto does, from the same
// open files. A failure names the kernel as name (its path or URL).
func Load(name string, kernel, initrd *os.File, cmdline string) (Kexec, error) {
	initrdFd, flags := -1, 0
	if initrd != nil {
		initrdFd = int(initrd.Fd())
	} else {
		flags |= unix.KEXEC_FILE_NO_INITRAMFS
	}
	err := unix.KexecFileLoad(int(kernel.Fd()), initrdFd, cmdline, flags)
	if err == nil {
		return Kexec{Syscall: SyscallFileLoad}, nil
	}
	if !fileLoadFallsBack(err) {
		return Kexec{}, kexecFailure(name, err)
	}
	hdr, herr := kexectree.ReadBzImage(kernel)
	err = fileLoadRefusal(err, hdr)
	bz, lerr := loadable(hdr, herr)
	if lerr == nil {
		lerr = kexecLoad(bz, kernel, initrd, cmdline)
	}
	if lerr != nil {
		return Kexec{}, kexecLoadFailure(name, err, lerr)
	}
	return Kexec{Syscall: SyscallLoad, Refused: err}, nil
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

// fileLoadFallsBack says whether kexec_load may succeed where
// kexec_file_load failed with err: as in kexec-tools, when the kernel
// lacks the call or cannot parse the image, never when it refused a
// signature or the caller (lockdown, capabilities, memory).
func fileLoadFallsBack(err error) bool {
	switch err {
	case unix.ENOSYS, unix.EINVAL, unix.ENOEXEC, unix.EOPNOTSUPP:
		return true
	}
	return false
}

// fileLoadRefusal adds to kexec_file_load's ENOEXEC which of its image
// probe's conditions the kernel's header fails: the running kernel tells
// only its log.
func fileLoadRefusal(err error, hdr *kexectree.BzImage) error {
	if hdr == nil || err != unix.ENOEXEC {
		return err
	}
	if why := hdr.CanBoot(kexectree.FileLoad); why != nil {
		return fmt.Errorf("%w (%v)", err, why)
	}
	return err
}

// isSignatureRefusal says whether kexec_file_load refused the kernel's
// signature (or its absence) under a signature policy.
func isSignatureRefusal(err error) bool {
	switch err {
	case unix.EKEYREJECTED, unix.ENOKEY, unix.EBADMSG, unix.ELIBBAD, unix.ENOPKG, unix.EMSGSIZE:
		return true
	}
	return false
}

const actionSign = "the kernel is locked down (Secure Boot): only a kernel signed by a key it trusts can be loaded; sign the HomestakerOS kernel or disable Secure Boot"

// disabledSysctl turns kexec off for good once it holds 1.
const disabledSysctl = "/proc/sys/kernel/kexec_load_disabled"

// permissionAction says what to do about EPERM: kexec turned off by the
// sysctl (read at sysctl, disabledSysctl but in tests), or else a
// locked-down kernel.
func permissionAction(sysctl string) string {
	if b, err := os.ReadFile(sysctl); err == nil && strings.TrimSpace(string(b)) == "1" {
		return "kexec is turned off in this kernel (kernel.kexec_load_disabled=1, from sysctl.kernel.kexec_load_disabled=1 on the command line or a sysctl.conf; it stays off until a reboot): " +
			"remove it from the boot loader's command line, or boot with homestaker.handover=switchroot"
	}
	return actionSign
}

func kexecFailure(name string, err error) error {
	found := fmt.Sprintf("kexec_file_load of %s: %v", name, err)
	action := "check that the tree's kernel is an x86_64 bzImage and that the initrd fits in memory"
	switch {
	case isSignatureRefusal(err), err == unix.EPERM:
		action = permissionAction(disabledSysctl)
	case err == unix.ENOMEM:
		action = "the next stage does not fit in memory; free memory or use a smaller initrd"
	}
	return report.Fail("the next stage's kernel to load", found, action)
}

// kexecLoadFailure reports both refusals: the file load's and the
// fallback's.
func kexecLoadFailure(name string, fileErr, loadErr error) error {
	found := fmt.Sprintf("kexec_file_load of %s: %v; kexec_load: %v", name, fileErr, loadErr)
	action := "check that the tree's kernel is an x86_64 bzImage and that the initrd fits in memory"
	switch {
	case errors.Is(fileErr, unix.ENOSYS) && errors.Is(loadErr, unix.ENOSYS):
		action = "this kernel was built without kexec (CONFIG_KEXEC, CONFIG_KEXEC_FILE); use homestaker.handover=switchroot"
	case errors.Is(loadErr, unix.EPERM):
		// kexec_load is off under lockdown; only a signed file load works.
		action = permissionAction(disabledSysctl)
	case errors.Is(loadErr, unix.ENOMEM):
		action = "the next stage does not fit in memory; free memory or use a smaller initrd"
	case errors.Is(loadErr, errNotLoadable):
		action = "the tree's kernel must be an x86_64 bzImage (boot protocol 2.12 or later, relocatable); check the tree's kexec-boot"
	}
	return report.Fail("the next stage's kernel to load", found, action)
}
