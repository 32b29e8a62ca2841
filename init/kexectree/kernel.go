package kexectree

import (
	"fmt"
	"io"
)

// CheckKernel checks that the file named name is an x86 bzImage that
// kexec_file_load or the handover's kexec_load can boot, so that a tree
// with a wrong or truncated kernel is refused while there is still a
// fallback, not at the handover.
func CheckKernel(name string, r io.ReaderAt) error {
	b, err := ReadBzImage(r)
	if err != nil {
		if _, ok := err.(*NotBzImageError); ok {
			return fmt.Errorf("%s is not a bzImage: %v; the tree needs an x86_64 bzImage (vmlinuz)", name, err)
		}
		return fmt.Errorf("reading the kernel %s: %v", name, err)
	}
	if err := b.Bootable(); err != nil {
		return fmt.Errorf("%s: %v", name, err)
	}
	return nil
}
