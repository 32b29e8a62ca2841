package handover

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/u-root/u-root/pkg/boot/kexec"
	"golang.org/x/sys/unix"

	"github.com/homestaker/homestaker-boot/init/kexectree"
	"github.com/homestaker/homestaker-boot/init/report"
)

// fakeBzImage is the start of a bzImage as a 6.x x86_64 kernel has it.
func fakeBzImage(edit func(b []byte)) []byte {
	b := make([]byte, 0x4000)
	b[0x1f1] = 27 // setup_sects
	binary.LittleEndian.PutUint16(b[0x1fe:], 0xaa55)
	b[0x200], b[0x201] = 0xeb, 0x6a // header ends at 0x26c
	copy(b[0x202:], "HdrS")
	binary.LittleEndian.PutUint16(b[0x206:], 0x020f)
	b[0x211] = kexectree.LoadedHigh
	binary.LittleEndian.PutUint32(b[0x22c:], 0x7fffffff)       // initrd_addr_max
	binary.LittleEndian.PutUint32(b[0x230:], 0x200000)         // kernel_alignment
	b[0x234] = 1                                               // relocatable_kernel
	binary.LittleEndian.PutUint16(b[0x236:], xlf64|xlfAbove4G) // xloadflags
	binary.LittleEndian.PutUint32(b[0x238:], 2047)             // cmdline_size
	binary.LittleEndian.PutUint64(b[0x258:], 0x1000000)        // pref_address
	binary.LittleEndian.PutUint32(b[0x260:], 0x3000000)        // init_size
	if edit != nil {
		edit(b)
	}
	return b
}

const (
	xlf64      = kexectree.XLFKernel64
	xlfAbove4G = kexectree.XLFAbove4G
)

// parseBzImage is what the handover reads of a kernel of len(b) bytes.
func parseBzImage(b []byte) (*kexectree.BzImage, error) {
	return loadable(kexectree.ParseBzImage(b[:min(len(b), kexectree.HeadLen)], int64(len(b))))
}

func TestParseBzImage(t *testing.T) {
	bz, err := parseBzImage(fakeBzImage(nil))
	if err != nil {
		t.Fatal(err)
	}
	if bz.SetupSize != 28*512 || bz.KernelAlign != 0x200000 || bz.InitSize != 0x3000000 || bz.PrefAddress != 0x1000000 || len(bz.Header) != 0x26c-0x1f1 {
		t.Errorf("parsed %+v", bz)
	}
	// What kexec_file_load needs and this loader does not.
	for name, edit := range map[string]func(b []byte){
		"not loadable above 4 GiB": func(b []byte) { binary.LittleEndian.PutUint16(b[0x236:], xlf64) },
		"no LOADED_HIGH":           func(b []byte) { b[0x211] = 0 },
	} {
		if _, err := parseBzImage(fakeBzImage(edit)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	for _, tc := range []struct {
		name string
		b    []byte
		want string
	}{
		{"not a bzImage", fakeBzImage(func(b []byte) { copy(b[0x202:], "ELF!") }), "no bzImage setup header"},
		{"old protocol", fakeBzImage(func(b []byte) { binary.LittleEndian.PutUint16(b[0x206:], 0x0206) }), "needs boot protocol 2.12 or later (Linux 3.8 on); found boot protocol 2.06"},
		{"32-bit", fakeBzImage(func(b []byte) { binary.LittleEndian.PutUint16(b[0x236:], 0) }), "XLF_KERNEL_64"},
		{"fixed address", fakeBzImage(func(b []byte) { b[0x234] = 0 }), "relocatable_kernel 0"},
		{"odd alignment", fakeBzImage(func(b []byte) { binary.LittleEndian.PutUint32(b[0x230:], 0x3000) }), "kernel_alignment 0x3000"},
		{"no init_size", fakeBzImage(func(b []byte) { binary.LittleEndian.PutUint32(b[0x260:], 0) }), "init_size 0"},
		{"no kernel after the setup code", fakeBzImage(nil)[:28*512], "truncated"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseBzImage(tc.b)
			if !errors.Is(err, errNotLoadable) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want %s", err, tc.want)
			}
		})
	}
}

// The tree check refuses exactly the kernels that neither the running
// kernel's kexec_file_load nor this kexec_load can boot.
func TestCheckKernelAgreesWithTheLoaders(t *testing.T) {
	set := func(o int, v uint16) func(b []byte) {
		return func(b []byte) { binary.LittleEndian.PutUint16(b[o:], v) }
	}
	for name, edit := range map[string]func(b []byte){
		"6.x":                      nil,
		"2.10":                     set(0x206, 0x020a),
		"2.11":                     set(0x206, 0x020b),
		"32-bit":                   set(0x236, 0),
		"not loadable above 4 GiB": set(0x236, xlf64),
		"not relocatable":          func(b []byte) { b[0x234] = 0 },
		"neither":                  func(b []byte) { b[0x234] = 0; set(0x236, xlf64)(b) },
		"zImage":                   func(b []byte) { b[0x211] = 0 },
		"no init_size":             set(0x260, 0),
	} {
		b := fakeBzImage(edit)
		hdr, err := kexectree.ParseBzImage(b[:kexectree.HeadLen], int64(len(b)))
		if err != nil {
			t.Fatal(err)
		}
		_, loadErr := parseBzImage(b)
		fileErr := hdr.CanBoot(kexectree.FileLoad)
		checkErr := kexectree.CheckKernel("bzImage", bytes.NewReader(b))
		if (checkErr == nil) != (loadErr == nil || fileErr == nil) {
			t.Errorf("%s: CheckKernel: %v; kexec_file_load: %v; kexec_load: %v", name, checkErr, fileErr, loadErr)
		}
	}
}

func TestFileLoadRefusal(t *testing.T) {
	hdr, _ := kexectree.ParseBzImage(fakeBzImage(func(b []byte) { binary.LittleEndian.PutUint16(b[0x236:], xlf64) }), 0x4000)
	err := fileLoadRefusal(unix.ENOEXEC, hdr)
	if !errors.Is(err, unix.ENOEXEC) || !strings.Contains(err.Error(), "kexec_file_load needs XLF_CAN_BE_LOADED_ABOVE_4G") {
		t.Errorf("got %v", err)
	}
	// Another errno, or a header the probe takes: the errno alone.
	good, _ := kexectree.ParseBzImage(fakeBzImage(nil), 0x4000)
	for _, c := range []struct {
		err error
		hdr *kexectree.BzImage
	}{{unix.ENOSYS, hdr}, {unix.ENOEXEC, good}, {unix.ENOEXEC, nil}} {
		if got := fileLoadRefusal(c.err, c.hdr); got != c.err {
			t.Errorf("%v: got %v", c.err, got)
		}
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
			if k := plan.kernel; k.Start%uintptr(bz.KernelAlign) != 0 || k.Start < uintptr(bz.PrefAddress) || k.Size < uint(bz.InitSize) {
				t.Errorf("kernel at %s: want %#x-aligned, at or above %#x, init_size %#x long", k, bz.KernelAlign, bz.PrefAddress, bz.InitSize)
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
	bz32, _ := parseBzImage(fakeBzImage(func(b []byte) { binary.LittleEndian.PutUint16(b[0x236:], xlf64) }))
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
		{"kernel_alignment (the new kernel's)", uint64(le32(0x230)), 0x200000},
		{"init_size (the new kernel's)", uint64(le32(0x260)), 0x3000000},
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
