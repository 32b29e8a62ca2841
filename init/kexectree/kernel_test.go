package kexectree

import (
	"bytes"
	"strings"
	"testing"
)

func TestCheckKernel(t *testing.T) {
	if err := CheckKernel("bzImage", bytes.NewReader(kernelHead(nil))); err != nil {
		t.Errorf("a bzImage: %v", err)
	}
	elf := append([]byte("\x7fELF"), make([]byte, 0x400)...)
	for _, c := range []struct {
		name string
		data []byte
		want []string
	}{
		{"a 2.15 kernel that is neither relocatable nor loadable above 4 GiB", kernelHead(edits(xloadflags(1), func(b []byte) { b[0x234] = 0 })),
			[]string{"kexec_file_load needs XLF_CAN_BE_LOADED_ABOVE_4G", "kexec_load needs a relocatable kernel", "found boot protocol 2.15, loadflags 0x01, xloadflags 0x0001, relocatable_kernel 0, kernel_alignment 0x200000, init_size 0x3000000"}},
		{"an ELF vmlinux", elf, []string{"is not a bzImage", "found 00 00 at 0x1FE", "an ELF file (vmlinux?"}},
		{"a short file", []byte("hello"), []string{"is not a bzImage", "5 bytes", "starts with 68 65 6c 6c 6f"}},
		{"an empty file", nil, []string{"is not a bzImage", "0 bytes", "it is empty"}},
		{"an old protocol", kernelHead(version(0x0204)), []string{"boot protocol 2.04", "2.12 or later"}},
		{"a 2.10 protocol", kernelHead(version(0x020a)), []string{"boot protocol 2.10", "2.12 or later"}},
		{"a 32-bit kernel", kernelHead(xloadflags(0)), []string{"need XLF_KERNEL_64", "found xloadflags 0x0000"}},
		{"gzip", append([]byte{0x1f, 0x8b}, make([]byte, 0x400)...), []string{"is not a bzImage", "gzip data"}},
		{"no boot sector flag", kernelHead(func(b []byte) { b[0x1fe] = 0 }), []string{"is not a bzImage", "found 00 aa at 0x1FE", `"HdrS" at 0x202`}},
		{"no magic", kernelHead(func(b []byte) { copy(b[0x202:], "HdrX") }), []string{"is not a bzImage", "found 55 aa at 0x1FE", `and "HdrX" at 0x202`}},
		{"zstd", append([]byte("\x28\xb5\x2f\xfd"), make([]byte, 0x400)...), []string{"and 00 00 00 00 at 0x202", "zstd data"}},
		{"an EFI program", append([]byte("MZ"), make([]byte, 0x400)...), []string{"a PE executable without a Linux setup header"}},
		{"a cpio archive", append([]byte("070701"), make([]byte, 0x400)...), []string{"a cpio archive"}},
	} {
		err := CheckKernel("/boot/current/bzImage", bytes.NewReader(c.data))
		if err == nil {
			t.Errorf("%s: accepted", c.name)
			continue
		}
		for _, w := range append(c.want, "/boot/current/bzImage") {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %q lacks %q", c.name, err, w)
			}
		}
	}
}

// readerAt hides the length of what it reads.
type readerAt struct{ r *bytes.Reader }

func (r readerAt) ReadAt(p []byte, off int64) (int, error) { return r.r.ReadAt(p, off) }

func TestCheckKernelUnsizedReader(t *testing.T) {
	if err := CheckKernel("bzImage", readerAt{bytes.NewReader(kernelHead(nil))}); err != nil {
		t.Errorf("a bzImage: %v", err)
	}
	if err := CheckKernel("bzImage", readerAt{bytes.NewReader(kernelHead(nil)[:28*512])}); err == nil || !strings.Contains(err.Error(), "truncated") {
		t.Errorf("a bzImage cut in its setup code: %v", err)
	}
	if err := CheckKernel("bzImage", readerAt{bytes.NewReader([]byte("hello"))}); err == nil || !strings.Contains(err.Error(), "5 bytes") {
		t.Errorf("a short file: %v", err)
	}
}
