package handover

// kexec_load of an x86_64 bzImage, for kernels that refuse
// kexec_file_load for a reason other than a signature: the bzImage is
// placed as it is and entered at its 64-bit entry point, as kexec-tools
// does, through u-root's purgatory (why not u-root's linux.KexecLoad: see
// the package comment).

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime"
	"unsafe"

	"github.com/u-root/u-root/pkg/boot/kexec"
	"github.com/u-root/u-root/pkg/boot/purgatory"
	"golang.org/x/sys/unix"

	"github.com/homestaker/homestaker-boot/init/kexectree"
)

const (
	pageSize = 4096
	mib      = 1 << 20
	below4G  = 1 << 32

	// Offsets in struct boot_params (Documentation/arch/x86/zero-page.rst)
	// and its setup header (Documentation/arch/x86/boot.rst) that the
	// loader writes; kexectree reads the kernel's.
	bpExtRamdiskImage = 0x0c0
	bpExtRamdiskSize  = 0x0c4
	bpExtCmdLinePtr   = 0x0c8
	bpEFIInfo         = 0x1c0
	bpEFIInfoSize     = 0x20
	bpSentinel        = 0x1ef
	hdrTypeOfLoader   = 0x210
	hdrRamdiskImage   = 0x218
	hdrRamdiskSize    = 0x21c
	hdrCmdLinePtr     = 0x228
	hdrSetupData      = 0x250

	loaderUndefined = 0xff // boot.rst: "if your boot loader ID is not assigned, use 0xFF"
	entry64Offset   = 0x200
	bootParamsSize  = 4096
	bootParamsSysfs = "/sys/kernel/boot_params/data"
)

// errNotLoadable marks a kernel this loader cannot place.
var errNotLoadable = errors.New("kernel not loadable")

// loadable is bz when kexec_load can place it; err is what reading its
// header gave.
func loadable(bz *kexectree.BzImage, err error) (*kexectree.BzImage, error) {
	if err == nil {
		err = bz.CanBoot(kexectree.Load)
	} else if _, ok := err.(*kexectree.NotBzImageError); ok {
		err = fmt.Errorf("no bzImage setup header: %v", err)
	} else {
		return nil, fmt.Errorf("reading the kernel: %w", err)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errNotLoadable, err)
	}
	return bz, nil
}

// purgatoryImage is u-root's default purgatory: it jumps to the 64-bit
// entry given at offset 8 with %rsi set to the value at offset 16.
type purgatoryImage struct {
	code  []byte
	at    uintptr
	entry uintptr
}

func loadPurgatory() (*purgatoryImage, error) {
	f, err := elf.NewFile(bytes.NewReader(purgatory.Purgatories["default"].Code))
	if err != nil {
		return nil, fmt.Errorf("purgatory: %w", err)
	}
	if len(f.Progs) != 1 || f.Progs[0].Type != elf.PT_LOAD {
		return nil, errors.New("purgatory: not one loadable segment")
	}
	p := f.Progs[0]
	code := make([]byte, alignUp(p.Memsz, pageSize))
	if _, err := p.ReadAt(code[:p.Filesz], 0); err != nil {
		return nil, fmt.Errorf("purgatory: %w", err)
	}
	return &purgatoryImage{code: code, at: uintptr(p.Vaddr), entry: uintptr(f.Entry)}, nil
}

// kexecPlan is where each segment goes in physical memory.
type kexecPlan struct {
	purgatory, kernel, params, initrd kexec.Range
}

// planKexecLoad places the segments in ram: the purgatory where it was
// linked, the kernel aligned at or above its preferred address with room
// for init_size (the decompressor works there), the boot parameters and
// command line below 4 GiB, and the initrd where the header allows.
func planKexecLoad(bz *kexectree.BzImage, ram kexec.Ranges, p *purgatoryImage, kernelLen, paramsLen, initrdLen int) (*kexecPlan, error) {
	ram = pageAligned(ram)
	var plan kexecPlan
	take := func(what string, size uint64, opts ...kexec.FindOptioner) (kexec.Range, error) {
		r, err := ram.FindSpace(uint(alignUp(size, pageSize)), opts...)
		if err != nil {
			return r, fmt.Errorf("no room for the %s (%d MiB) in RAM: %w", what, size/mib, unix.ENOMEM)
		}
		ram = ram.Minus(r)
		return r, nil
	}
	var err error
	purg := kexec.Range{Start: p.at, Size: uint(len(p.code))}
	if plan.purgatory, err = take("purgatory", uint64(len(p.code)), kexec.WithinRange(purg)); err != nil {
		return nil, err
	}
	above4G := bz.XLoadFlags&kexectree.XLFAbove4G != 0
	top := uint64(below4G)
	if above4G {
		top = uint64(kexec.MaxAddr)
	}
	kernelSize := max(uint64(bz.InitSize), uint64(kernelLen))
	low := max(bz.PrefAddress, mib)
	if plan.kernel, err = take("kernel", kernelSize, kexec.WithStartAlignment(uint(bz.KernelAlign)), kexec.WithinRange(kexec.RangeFromInterval(uintptr(low), uintptr(top)))); err != nil {
		return nil, err
	}
	if plan.params, err = take("boot parameters", uint64(paramsLen), kexec.WithinRange(kexec.RangeFromInterval(mib, below4G))); err != nil {
		return nil, err
	}
	if initrdLen > 0 {
		initrdTop := min(uint64(bz.InitrdMax)+1, below4G)
		if above4G {
			initrdTop = uint64(kexec.MaxAddr)
		}
		if plan.initrd, err = take("initrd", uint64(initrdLen), kexec.WithinRange(kexec.RangeFromInterval(mib, uintptr(initrdTop)))); err != nil {
			return nil, err
		}
	}
	return &plan, nil
}

// bootParams fills the zero page for the new kernel: the running kernel's
// (memory map, ACPI and screen information) with the new kernel's setup
// header, the initrd and the command line. EFI information is dropped:
// without the runtime map that kexec_file_load and kexec-tools pass, the
// new kernel would enter EFI virtual mode a second time, which firmware
// forbids, and read an EFI memory map the old kernel may have reused.
func bootParams(current []byte, bz *kexectree.BzImage, plan *kexecPlan, initrdLen int, cmdline string) ([]byte, error) {
	if len(current) < bootParamsSize {
		return nil, fmt.Errorf("%s is %d bytes, want %d", bootParamsSysfs, len(current), bootParamsSize)
	}
	if limit := int(bz.CmdlineSize); limit > 0 && len(cmdline)+1 > limit {
		return nil, fmt.Errorf("the command line is %d bytes, the kernel takes %d", len(cmdline), limit-1)
	}
	bp := make([]byte, bootParamsSize+len(cmdline)+1)
	copy(bp, current[:bootParamsSize])
	copy(bp[bootParamsSize:], cmdline)
	clear(bp[bpEFIInfo : bpEFIInfo+bpEFIInfoSize])
	bp[bpSentinel] = 0
	copy(bp[kexectree.SetupHeaderOffset:], bz.Header)
	put32 := func(o int, v uint32) { binary.LittleEndian.PutUint32(bp[o:], v) }
	bp[hdrTypeOfLoader] = loaderUndefined
	binary.LittleEndian.PutUint64(bp[hdrSetupData:], 0)
	initrd, size := uint64(plan.initrd.Start), uint64(initrdLen)
	if initrdLen == 0 {
		initrd = 0
	}
	put32(hdrRamdiskImage, uint32(initrd))
	put32(hdrRamdiskSize, uint32(size))
	put32(bpExtRamdiskImage, uint32(initrd>>32))
	put32(bpExtRamdiskSize, uint32(size>>32))
	cl := uint64(plan.params.Start) + bootParamsSize
	put32(hdrCmdLinePtr, uint32(cl))
	put32(bpExtCmdLinePtr, uint32(cl>>32))
	return bp, nil
}

// kexecLoad loads kernel, whose setup header is bz, and initrd (nil for
// none) with kexec_load.
func kexecLoad(bz *kexectree.BzImage, kernel, initrd *os.File, cmdline string) error {
	code := make([]byte, bz.Size-bz.SetupSize)
	if _, err := kernel.ReadAt(code, bz.SetupSize); err != nil {
		return fmt.Errorf("reading the kernel: %w", err)
	}
	var ramdisk []byte
	if initrd != nil {
		m, unmap, err := mapFile(initrd)
		if err != nil {
			return fmt.Errorf("reading the initrd: %w", err)
		}
		defer unmap()
		ramdisk = m
	}
	current, err := os.ReadFile(bootParamsSysfs)
	if err != nil {
		return fmt.Errorf("the running kernel's boot parameters: %w", err)
	}
	mm, err := kexec.MemoryMapFromSysfsMemmap()
	if err != nil {
		return fmt.Errorf("the memory map: %w", err)
	}
	purg, err := loadPurgatory()
	if err != nil {
		return err
	}
	plan, err := planKexecLoad(bz, mm.RAM(), purg, len(code), bootParamsSize+len(cmdline)+1, len(ramdisk))
	if err != nil {
		return err
	}
	params, err := bootParams(current, bz, plan, len(ramdisk), cmdline)
	if err != nil {
		return err
	}
	binary.LittleEndian.PutUint64(purg.code[8:], uint64(plan.kernel.Start)+entry64Offset)
	binary.LittleEndian.PutUint64(purg.code[16:], uint64(plan.params.Start))
	segs := []segment{
		{purg.code, plan.purgatory},
		{code, plan.kernel},
		{params, plan.params},
	}
	if len(ramdisk) > 0 {
		segs = append(segs, segment{ramdisk, plan.initrd})
	}
	return rawKexecLoad(purg.entry, segs)
}

type segment struct {
	buf  []byte
	phys kexec.Range
}

// rawKexecLoad calls kexec_load(2). Each phys range is page-aligned; the
// kernel copies the buffers and zero-fills the rest of each range.
func rawKexecLoad(entry uintptr, segs []segment) error {
	type kexecSegment struct {
		buf   unsafe.Pointer
		bufsz uintptr
		mem   uintptr
		memsz uintptr
	}
	ks := make([]kexecSegment, len(segs))
	for i, s := range segs {
		if s.phys.Start%pageSize != 0 || s.phys.Size%pageSize != 0 || uint(len(s.buf)) > s.phys.Size {
			return fmt.Errorf("internal error: segment %d (%s) is not page-aligned or too small", i, s.phys)
		}
		ks[i] = kexecSegment{unsafe.Pointer(unsafe.SliceData(s.buf)), uintptr(len(s.buf)), s.phys.Start, uintptr(s.phys.Size)}
	}
	_, _, errno := unix.Syscall6(unix.SYS_KEXEC_LOAD, entry, uintptr(len(ks)), uintptr(unsafe.Pointer(&ks[0])), 0, 0, 0)
	runtime.KeepAlive(segs)
	runtime.KeepAlive(ks)
	if errno != 0 {
		return errno
	}
	return nil
}

// mapFile maps f read-only, or reads it when it cannot be mapped.
func mapFile(f *os.File) ([]byte, func(), error) {
	st, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	if st.Size() == 0 {
		return nil, func() {}, nil
	}
	if m, err := unix.Mmap(int(f.Fd()), 0, int(st.Size()), unix.PROT_READ, unix.MAP_PRIVATE); err == nil {
		return m, func() { unix.Munmap(m) }, nil
	}
	b := make([]byte, st.Size())
	if _, err := f.ReadAt(b, 0); err != nil {
		return nil, nil, err
	}
	return b, func() {}, nil
}

func alignUp(v, a uint64) uint64 { return (v + a - 1) &^ (a - 1) }

// pageAligned shrinks each range to whole pages, as kexec_load wants them.
func pageAligned(ram kexec.Ranges) kexec.Ranges {
	var out kexec.Ranges
	for _, r := range ram {
		start := alignUp(uint64(r.Start), pageSize)
		end := uint64(r.End()) &^ (pageSize - 1)
		if start < end {
			out = append(out, kexec.RangeFromInterval(uintptr(start), uintptr(end)))
		}
	}
	return out
}
