package kexectree

import (
	"encoding/binary"
	"fmt"
	"io"
)

// The x86 boot protocol's setup header (Documentation/arch/x86/boot.rst).
const (
	bootFlagOff = 0x1fe // 0xaa55
	headerOff   = 0x202 // "HdrS"
	versionOff  = 0x206 // boot protocol version
	headerEnd   = 0x208
)

// CheckKernel checks that the file named name is an x86 bzImage whose
// boot protocol kexec can load (2.06 or later), so that a tree with a
// wrong or truncated kernel is refused while there is still a fallback,
// not at the handover.
func CheckKernel(name string, r io.ReaderAt) error {
	head := make([]byte, headerEnd)
	if n, err := r.ReadAt(head, 0); n < len(head) {
		return fmt.Errorf("%s is not a bzImage: it is %d bytes, shorter than a boot sector and setup header (%v)", name, n, err)
	}
	flag := binary.LittleEndian.Uint16(head[bootFlagOff:])
	if flag != 0xaa55 || string(head[headerOff:headerOff+4]) != "HdrS" {
		return fmt.Errorf("%s is not a bzImage: no boot sector flag 55 aa at 0x1FE and \"HdrS\" at 0x202 (found %q); the tree needs an x86_64 bzImage (vmlinuz), not a vmlinux, a compressed file or an EFI-only image", name, head[headerOff:headerOff+4])
	}
	if v := binary.LittleEndian.Uint16(head[versionOff:]); v < 0x0206 {
		return fmt.Errorf("%s uses x86 boot protocol %d.%02d; kexec needs 2.06 or later (a Linux kernel from 2.6.22 on)", name, v>>8, v&0xff)
	}
	return nil
}
