package kexectree

// The x86 boot protocol's setup header (Documentation/arch/x86/boot.rst),
// read once for every place that asks whether kexec can boot a kernel:
// the tree check here, the handover's kexec_load loader and `homestaker
// chainload`. The requirements table says what each loader needs.

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"io/fs"
	"strconv"
)

// HeadLen is how much of a file ParseBzImage looks at: the boot sector
// and the longest setup header (its end is 0x202 plus one byte).
const HeadLen = 0x400

// SetupHeaderOffset is where the setup header starts, in the file as in
// boot_params (struct boot_params.hdr).
const SetupHeaderOffset = 0x1f1

// Offsets in the file.
const (
	offSetupSects  = 0x1f1
	offBootFlag    = 0x1fe // 55 aa
	offJump        = 0x200 // a short jump over the header: eb, then the header's end less 0x202
	offMagic       = 0x202 // "HdrS"
	offVersion     = 0x206
	offLoadFlags   = 0x211
	offInitrdMax   = 0x22c // 2.03
	offKernelAlign = 0x230 // 2.05
	offRelocatable = 0x234 // 2.05
	offXLoadFlags  = 0x236 // 2.12
	offCmdlineSize = 0x238 // 2.06
	offPrefAddress = 0x258 // 2.10
	offInitSize    = 0x260 // 2.10

	// minHead is what a file must hold to be read as a bzImage at all:
	// every field above.
	minHead = offInitSize + 4
)

// Flags of the setup header.
const (
	LoadedHigh  = 1 << 0 // loadflags: protected-mode code at 0x100000, a bzImage rather than a zImage
	XLFKernel64 = 1 << 0 // xloadflags: a 64-bit entry point 0x200 past the protected-mode code
	XLFAbove4G  = 1 << 1 // xloadflags: the kernel, boot_params, command line and initrd may lie above 4 GiB
)

// BzImage is what the setup header of an x86 kernel says, with the file's
// length. A field the header's boot protocol does not define yet holds
// the protocol's default.
type BzImage struct {
	Size        int64  // the file's length (from a reader that does not know it: up to past the longest setup code)
	SetupSize   int64  // real-mode setup code in front of the protected-mode kernel: (setup_sects+1)*512
	Version     uint16 // boot protocol, 0x020f for 2.15
	LoadFlags   uint8
	XLoadFlags  uint16 // 0 before 2.12
	Relocatable bool   // relocatable_kernel, false before 2.05
	KernelAlign uint32 // kernel_alignment, 0 before 2.05
	CmdlineSize uint32 // cmdline_size, 255 before 2.06; kexec counts the NUL against it
	InitrdMax   uint32 // initrd_addr_max, 0x37ffffff before 2.03
	PrefAddress uint64 // pref_address, 0 before 2.10
	InitSize    uint32 // init_size: the room the kernel decompresses in, 0 before 2.10
	HeaderEnd   int    // 0x202 plus the jump's offset at 0x201
	// Header is the setup header from SetupHeaderOffset to HeaderEnd, as
	// a loader copies it into boot_params; nil when the file ends first.
	Header []byte
}

// A Loader is one way to hand a kernel to the running one.
type Loader uint8

const (
	// FileLoad is kexec_file_load: the running kernel's bzImage64 loader
	// (arch/x86/kernel/kexec-bzimage64.c) parses the image.
	FileLoad Loader = 1 << iota
	// Load is kexec_load through the handover's own loader
	// (init/handover/kexecload.go), the fallback where the running kernel
	// refuses the file load.
	Load
)

func (l Loader) String() string {
	switch l {
	case FileLoad:
		return "kexec_file_load"
	case Load:
		return "kexec_load"
	}
	return "kexec"
}

// requirement is one condition a loader sets on the header.
type requirement struct {
	of    Loader // the loaders that need it
	need  string
	met   func(b *BzImage) bool
	found func(b *BzImage) string
}

// requirements are, for FileLoad, bzImage64_probe's checks and
// bzImage64_load's truncation check; for Load, what kexecload.go relies on
// to place the kernel and fill boot_params. Both loaders also depend on
// the running system (memory, the command line's length, a signature
// policy, and for kexec_file_load 32-bit EFI and 5-level paging without
// XLF_5LEVEL): that is decided at the handover, not here.
var requirements = []requirement{
	{FileLoad | Load, "boot protocol 2.12 or later (Linux 3.8 on)",
		func(b *BzImage) bool { return b.Version >= 0x020c },
		func(b *BzImage) string { return "boot protocol " + b.VersionString() }},
	{FileLoad | Load, "the protected-mode kernel after the setup code",
		func(b *BzImage) bool { return b.Size > b.SetupSize },
		func(b *BzImage) string {
			return fmt.Sprintf("a file of %d bytes, where the setup code alone takes %d (truncated?)", b.Size, b.SetupSize)
		}},
	{FileLoad, "LOADED_HIGH in loadflags (a bzImage, not a zImage)",
		func(b *BzImage) bool { return b.LoadFlags&LoadedHigh != 0 },
		func(b *BzImage) string { return fmt.Sprintf("loadflags 0x%02x", b.LoadFlags) }},
	{FileLoad | Load, "XLF_KERNEL_64 in xloadflags (a 64-bit entry point: an x86_64 kernel)",
		func(b *BzImage) bool { return b.XLoadFlags&XLFKernel64 != 0 },
		func(b *BzImage) string { return fmt.Sprintf("xloadflags 0x%04x", b.XLoadFlags) }},
	{FileLoad, "XLF_CAN_BE_LOADED_ABOVE_4G in xloadflags",
		func(b *BzImage) bool { return b.XLoadFlags&XLFAbove4G != 0 },
		func(b *BzImage) string { return fmt.Sprintf("xloadflags 0x%04x", b.XLoadFlags) }},
	{Load, "a relocatable kernel (relocatable_kernel 1)",
		func(b *BzImage) bool { return b.Relocatable },
		func(b *BzImage) string { return "relocatable_kernel 0" }},
	{Load, "kernel_alignment a power of two of at least 4096",
		func(b *BzImage) bool { a := b.KernelAlign; return a >= 4096 && a&(a-1) == 0 },
		func(b *BzImage) string { return fmt.Sprintf("kernel_alignment %#x", b.KernelAlign) }},
	{Load, "init_size, the room the kernel decompresses in",
		func(b *BzImage) bool { return b.InitSize != 0 },
		func(b *BzImage) string { return "init_size 0" }},
	{Load, "a setup header through init_size (to 0x264)",
		func(b *BzImage) bool { return b.HeaderEnd >= minHead && b.Header != nil },
		func(b *BzImage) string {
			if b.Header == nil {
				return fmt.Sprintf("the header ends at %#x, past the file's end", b.HeaderEnd)
			}
			return fmt.Sprintf("the header ends at %#x", b.HeaderEnd)
		}},
}

// NotBzImageError says what a file that has no x86 setup header holds.
type NotBzImageError struct {
	Len         int    // bytes read: the file's length when it is short
	Start       []byte // its first bytes
	Flag, Magic []byte // what it has at 0x1FE and 0x202, when it is long enough
	// Initramfs is set when the bytes look like an initramfs, which a
	// caller may have swapped for the kernel.
	Initramfs bool
}

func (e *NotBzImageError) Error() string {
	if e.Magic == nil {
		return fmt.Sprintf("it is %d bytes, shorter than an x86 boot sector and setup header (%d); %s", e.Len, minHead, e.looksLike())
	}
	return fmt.Sprintf("found % x at 0x1FE where a boot sector has 55 aa, and %s at 0x202 where the setup header has \"HdrS\"; %s",
		e.Flag, showBytes(e.Magic), e.looksLike())
}

// looksLike names what the bytes start with.
func (e *NotBzImageError) looksLike() string {
	for _, k := range []struct {
		magic string
		what  string
	}{
		{"\x7fELF", "an ELF file (vmlinux? kexec needs the compressed bzImage, arch/x86/boot/bzImage)"},
		{"0707", "a cpio archive (an initramfs?)"},
		{"\x28\xb5\x2f\xfd", "zstd data (an initramfs?)"},
		{"\x1f\x8b", "gzip data (an initramfs or a compressed kernel?)"},
		{"\xfd7zXZ\x00", "xz data (an initramfs or a compressed kernel?)"},
		{"MZ", "a PE executable without a Linux setup header (an EFI program that is not a Linux kernel)"},
		{"#!", "a script"},
	} {
		if bytes.HasPrefix(e.Start, []byte(k.magic)) {
			return "it is " + k.what
		}
	}
	if len(e.Start) == 0 {
		return "it is empty"
	}
	return fmt.Sprintf("it starts with % x", e.Start[:min(len(e.Start), 8)])
}

func looksLikeInitramfs(head []byte) bool {
	return bytes.HasPrefix(head, []byte("0707")) || bytes.HasPrefix(head, []byte("\x28\xb5\x2f\xfd"))
}

// showBytes quotes printable ASCII and shows anything else in hex.
func showBytes(b []byte) string {
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			return fmt.Sprintf("% x", b)
		}
	}
	return strconv.Quote(string(b))
}

// ParseBzImage reads the setup header from head, the first bytes of a
// file of size bytes (HeadLen of them, or all of a shorter file). It
// fails with a *NotBzImageError only when there is no setup header at all;
// whether a loader can boot the kernel is CanBoot's answer.
func ParseBzImage(head []byte, size int64) (*BzImage, error) {
	head = head[:int(min(int64(len(head)), max(size, 0)))]
	if len(head) < minHead || binary.LittleEndian.Uint16(head[offBootFlag:]) != 0xaa55 || string(head[offMagic:offMagic+4]) != "HdrS" {
		e := &NotBzImageError{Len: len(head), Start: bytes.Clone(head[:min(len(head), 8)]), Initramfs: looksLikeInitramfs(head)}
		if len(head) >= minHead {
			e.Flag, e.Magic = bytes.Clone(head[offBootFlag:offBootFlag+2]), bytes.Clone(head[offMagic:offMagic+4])
		}
		return nil, e
	}
	le16 := func(o int) uint16 { return binary.LittleEndian.Uint16(head[o:]) }
	le32 := func(o int) uint32 { return binary.LittleEndian.Uint32(head[o:]) }
	b := &BzImage{
		Size:        size,
		Version:     le16(offVersion),
		LoadFlags:   head[offLoadFlags],
		CmdlineSize: 255,
		InitrdMax:   0x37ffffff,
		HeaderEnd:   offMagic + int(head[offJump+1]),
	}
	sects := int64(head[offSetupSects])
	if sects == 0 {
		sects = 4
	}
	b.SetupSize = (sects + 1) * 512
	if b.Version >= 0x0203 {
		b.InitrdMax = le32(offInitrdMax)
	}
	if b.Version >= 0x0205 {
		b.KernelAlign = le32(offKernelAlign)
		b.Relocatable = head[offRelocatable] != 0
	}
	if b.Version >= 0x0206 {
		b.CmdlineSize = le32(offCmdlineSize)
	}
	if b.Version >= 0x020a {
		b.PrefAddress = binary.LittleEndian.Uint64(head[offPrefAddress:])
		b.InitSize = le32(offInitSize)
	}
	if b.Version >= 0x020c {
		b.XLoadFlags = le16(offXLoadFlags)
	}
	if b.HeaderEnd <= len(head) {
		b.Header = bytes.Clone(head[SetupHeaderOffset:b.HeaderEnd])
	}
	return b, nil
}

// ReadBzImage parses the setup header of the kernel in r.
func ReadBzImage(r io.ReaderAt) (*BzImage, error) {
	head := make([]byte, HeadLen)
	n, err := r.ReadAt(head, 0)
	if n < len(head) && err != nil && err != io.EOF {
		return nil, err
	}
	size, err := sizeOf(r, n)
	if err != nil {
		return nil, err
	}
	return ParseBzImage(head[:n], size)
}

// maxSetupSize is the longest setup code: 255 sectors and the boot sector.
const maxSetupSize = 256 * 512

// sizeOf is r's length where r knows it. Otherwise it is found by
// reading, up to what matters: whether the file goes on past the
// longest setup code.
func sizeOf(r io.ReaderAt, n int) (int64, error) {
	switch f := r.(type) {
	case interface{ Stat() (fs.FileInfo, error) }:
		st, err := f.Stat()
		if err != nil {
			return 0, err
		}
		return st.Size(), nil
	case interface{ Size() int64 }:
		return f.Size(), nil
	}
	if n < HeadLen {
		return int64(n), nil
	}
	buf := make([]byte, maxSetupSize+1)
	k, err := r.ReadAt(buf, 0)
	if k < len(buf) && err != nil && err != io.EOF {
		return 0, err
	}
	return int64(k), nil
}

// CanBoot says whether l can boot the kernel, or names the first of its
// requirements the header does not meet and what it has instead.
func (b *BzImage) CanBoot(l Loader) error {
	if r := b.unmet(l); r != nil {
		return fmt.Errorf("%v needs %s; found %s", l, r.need, r.found(b))
	}
	return nil
}

func (b *BzImage) unmet(l Loader) *requirement {
	for i := range requirements {
		if r := &requirements[i]; r.of&l != 0 && !r.met(b) {
			return r
		}
	}
	return nil
}

// Loaders are the loaders that can boot the kernel.
func (b *BzImage) Loaders() []Loader {
	var out []Loader
	for _, l := range []Loader{FileLoad, Load} {
		if b.unmet(l) == nil {
			out = append(out, l)
		}
	}
	return out
}

// Bootable fails when no loader can boot the kernel, naming what each
// needs and what the header has.
func (b *BzImage) Bootable() error {
	fl, l := b.unmet(FileLoad), b.unmet(Load)
	switch {
	case fl == nil || l == nil:
		return nil
	case fl == l:
		return fmt.Errorf("kexec cannot boot it: kexec_file_load and kexec_load need %s; found %s", fl.need, fl.found(b))
	}
	return fmt.Errorf("kexec cannot boot it: kexec_file_load needs %s, kexec_load needs %s; found %s", fl.need, l.need, b.describe())
}

// VersionString is the boot protocol as boot.rst writes it, "2.15".
func (b *BzImage) VersionString() string {
	return fmt.Sprintf("%d.%02d", b.Version>>8, b.Version&0xff)
}

// describe lists the fields the loaders' requirements read.
func (b *BzImage) describe() string {
	return fmt.Sprintf("boot protocol %s, loadflags 0x%02x, xloadflags 0x%04x, relocatable_kernel %d, kernel_alignment %#x, init_size %#x",
		b.VersionString(), b.LoadFlags, b.XLoadFlags, btoi(b.Relocatable), b.KernelAlign, b.InitSize)
}

func btoi(v bool) int {
	if v {
		return 1
	}
	return 0
}
