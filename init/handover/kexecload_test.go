package handover

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/u-root/u-root/pkg/boot/kexec"
	"golang.org/x/sys/unix"

	"github.com/homestaker/homestaker-boot/init/report"
)

// fakeBzImage is the start of a bzImage as a 6.x x86_64 kernel has it.
func fakeBzImage(edit func(b []byte)) []byte {
	b := make([]byte, 0x4000)
	b[hdrSetupSects] = 27
	binary.LittleEndian.PutUint16(b[hdrBootFlag:], 0xaa55)
	b[hdrJump], b[hdrJump+1] = 0xeb, 0x6a // header ends at 0x26c
	copy(b[hdrMagic:], "HdrS")
	binary.LittleEndian.PutUint16(b[hdrVersion:], 0x020f)
	binary.LittleEndian.PutUint32(b[hdrInitrdAddrMax:], 0x7fffffff)
	binary.LittleEndian.PutUint32(b[hdrKernelAlign:], 0x200000)
	b[hdrRelocatable] = 1
	binary.LittleEndian.PutUint16(b[hdrXLoadFlags:], xlfKernel64|xlfAbove4G)
	binary.LittleEndian.PutUint32(b[hdrCmdlineSize:], 2047)
	binary.LittleEndian.PutUint64(b[hdrPrefAddress:], 0x1000000)
	binary.LittleEndian.PutUint32(b[hdrInitSize:], 0x3000000)
	if edit != nil {
		edit(b)
	}
	return b
}

func TestParseBzImage(t *testing.T) {
	bz, err := parseBzImage(fakeBzImage(nil))
	if err != nil {
		t.Fatal(err)
	}
	if bz.setupSize != 28*512 || bz.align != 0x200000 || bz.initSize != 0x3000000 || bz.prefAddress != 0x1000000 || len(bz.header) != 0x26c-0x1f1 {
		t.Errorf("parsed %+v", bz)
	}
	for _, tc := range []struct {
		name string
		edit func(b []byte)
		want string
	}{
		{"not a bzImage", func(b []byte) { copy(b[hdrMagic:], "ELF!") }, "no bzImage setup header"},
		{"old protocol", func(b []byte) { binary.LittleEndian.PutUint16(b[hdrVersion:], 0x0206) }, "2.06 is older than 2.12"},
		{"32-bit", func(b []byte) { binary.LittleEndian.PutUint16(b[hdrXLoadFlags:], 0) }, "no 64-bit entry point"},
		{"fixed address", func(b []byte) { b[hdrRelocatable] = 0 }, "not relocatable"},
		{"odd alignment", func(b []byte) { binary.LittleEndian.PutUint32(b[hdrKernelAlign:], 0x3000) }, "alignment"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseBzImage(fakeBzImage(tc.edit))
			if !errors.Is(err, errNotLoadable) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want %s", err, tc.want)
			}
		})
	}
}

// ram is an 8 GiB PC's memory map: low memory, memory below the PCI hole
// (start not page-aligned, as firmware maps have it), and above 4 GiB.
var ram = kexec.Ranges{
	kexec.RangeFromInterval(0x1000, 0x9fc00),
	kexec.RangeFromInterval(0x100100, 0xbffe0000),
	kexec.RangeFromInterval(0x100000000, 0x240000000),
}

func TestPlanKexecLoad(t *testing.T) {
	purg, err := loadPurgatory()
	if err != nil {
		t.Fatal(err)
	}
	bz, _ := parseBzImage(fakeBzImage(nil))
	const kernelLen, paramsLen = 12 << 20, 4096 + 300
	for _, tc := range []struct {
		name      string
		initrdLen int
		above4G   bool
	}{
		{"small initrd", 100 << 20, false},
		{"4 GiB initrd", 4 << 30, true},
		{"no initrd", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plan, err := planKexecLoad(bz, ram, purg, kernelLen, paramsLen, tc.initrdLen)
			if err != nil {
				t.Fatal(err)
			}
			if plan.purgatory.Start != purg.at {
				t.Errorf("purgatory at %s, linked at %#x", plan.purgatory, purg.at)
			}
			if k := plan.kernel; k.Start%uintptr(bz.align) != 0 || k.Start < uintptr(bz.prefAddress) || uint64(k.Size) < bz.initSize {
				t.Errorf("kernel at %s: want %#x-aligned, at or above %#x, init_size %#x long", k, bz.align, bz.prefAddress, bz.initSize)
			}
			if p := plan.params; p.End() > below4G || p.Size < paramsLen {
				t.Errorf("boot parameters at %s", p)
			}
			segs := []kexec.Range{plan.purgatory, plan.kernel, plan.params}
			if tc.initrdLen > 0 {
				if plan.initrd.Size < uint(tc.initrdLen) {
					t.Errorf("initrd at %s, %d bytes long", plan.initrd, tc.initrdLen)
				}
				if got := plan.initrd.Start >= below4G; got != tc.above4G {
					t.Errorf("initrd at %s", plan.initrd)
				}
				segs = append(segs, plan.initrd)
			}
			for i, a := range segs {
				if a.Start%pageSize != 0 || a.Size%pageSize != 0 {
					t.Errorf("segment %s is not page-aligned", a)
				}
				inRAM := false
				for _, r := range ram {
					inRAM = inRAM || r.IsSupersetOf(a)
				}
				if !inRAM {
					t.Errorf("segment %s is not in RAM", a)
				}
				for _, b := range segs[i+1:] {
					if a.Overlaps(b) {
						t.Errorf("segments %s and %s overlap", a, b)
					}
				}
			}
		})
	}

	// Without XLF_CAN_BE_LOADED_ABOVE_4G a 4 GiB initrd has no room.
	bz32, _ := parseBzImage(fakeBzImage(func(b []byte) { binary.LittleEndian.PutUint16(b[hdrXLoadFlags:], xlfKernel64) }))
	if _, err := planKexecLoad(bz32, ram, purg, kernelLen, paramsLen, 4<<30); !errors.Is(err, unix.ENOMEM) || !strings.Contains(err.Error(), "initrd") {
		t.Errorf("4 GiB initrd below 2 GiB: got %v, want no room for the initrd", err)
	}
}

func TestBootParams(t *testing.T) {
	current := make([]byte, bootParamsSize)
	for i := range current {
		current[i] = 0xaa
	}
	bz, _ := parseBzImage(fakeBzImage(nil))
	plan := &kexecPlan{
		params: kexec.Range{Start: 0x100000, Size: 0x2000},
		initrd: kexec.Range{Start: 0x1_2000_0000, Size: 0x1_0000_0000},
	}
	cmdline := "init=/nix/store/abc-nixos-system-x/init console=ttyS0"
	bp, err := bootParams(current, bz, plan, 0x1_0000_0000, cmdline)
	if err != nil {
		t.Fatal(err)
	}
	le32 := func(o int) uint32 { return binary.LittleEndian.Uint32(bp[o:]) }
	for _, c := range []struct {
		what string
		got  uint64
		want uint64
	}{
		{"ramdisk_image", uint64(le32(hdrRamdiskImage)) | uint64(le32(bpExtRamdiskImage))<<32, 0x1_2000_0000},
		{"ramdisk_size", uint64(le32(hdrRamdiskSize)) | uint64(le32(bpExtRamdiskSize))<<32, 0x1_0000_0000},
		{"cmd_line_ptr", uint64(le32(hdrCmdLinePtr)) | uint64(le32(bpExtCmdLinePtr))<<32, 0x101000},
		{"kernel_alignment (the new kernel's)", uint64(le32(hdrKernelAlign)), 0x200000},
		{"init_size (the new kernel's)", uint64(le32(hdrInitSize)), 0x3000000},
		{"setup_data", binary.LittleEndian.Uint64(bp[hdrSetupData:]), 0},
		{"type_of_loader", uint64(bp[hdrTypeOfLoader]), loaderUndefined},
		{"sentinel", uint64(bp[bpSentinel]), 0},
		{"efi_info", binary.LittleEndian.Uint64(bp[bpEFIInfo:]), 0},
		{"e820 table (the running kernel's)", uint64(bp[0x2d0]), 0xaa},
	} {
		if c.got != c.want {
			t.Errorf("%s = %#x, want %#x", c.what, c.got, c.want)
		}
	}
	if got := string(bp[bootParamsSize:]); got != cmdline+"\x00" {
		t.Errorf("command line %q", got)
	}
	if _, err := bootParams(current, bz, plan, 0, strings.Repeat("x", 3000)); err == nil {
		t.Error("a command line longer than cmdline_size: no error")
	}
}

func TestKexecFallback(t *testing.T) {
	for _, errno := range []unix.Errno{unix.ENOSYS, unix.EINVAL, unix.ENOEXEC, unix.ENOTSUP} {
		if !fileLoadFallsBack(errno) {
			t.Errorf("%v: no fallback to kexec_load", errno)
		}
	}
	for _, errno := range []unix.Errno{unix.EKEYREJECTED, unix.EBADMSG, unix.EPERM, unix.ENOMEM, unix.EBUSY} {
		if fileLoadFallsBack(errno) {
			t.Errorf("%v: falls back to kexec_load", errno)
		}
	}
}

func TestKexecFailureActions(t *testing.T) {
	const l = "/mnt/volume/boot/current/bzImage"
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"signature", kexecFailure(l, unix.EKEYREJECTED), "signed"},
		{"bad signature", kexecFailure(l, unix.EBADMSG), "signed"},
		{"lockdown on the fallback", kexecLoadFailure(l, unix.ENOEXEC, unix.EPERM), "signed"},
		{"no kexec", kexecLoadFailure(l, unix.ENOSYS, unix.ENOSYS), "switchroot"},
		{"no room", kexecLoadFailure(l, unix.EINVAL, errors.Join(errors.New("no room for the initrd"), unix.ENOMEM)), "fit in memory"},
		{"not a bzImage", kexecLoadFailure(l, unix.ENOEXEC, errNotLoadable), "bzImage"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var f *report.Failure
			if !errors.As(tc.err, &f) {
				t.Fatalf("%v is not a report.Failure", tc.err)
			}
			if !strings.Contains(f.Action, tc.want) || !strings.Contains(f.Found, "bzImage") {
				t.Errorf("found %q, action %q; want the kernel named and an action about %q", f.Found, f.Action, tc.want)
			}
		})
	}
}
