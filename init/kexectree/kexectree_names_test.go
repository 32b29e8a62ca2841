package kexectree

import (
	"strings"
	"testing"
)

func TestCheckNames(t *testing.T) {
	scripts := []string{"kexec-boot"}
	verifiers := []string{"SHA256SUMS", "SHA256SUMS.minisig"}
	for _, tc := range []struct {
		kernel, initrd string
		want           string // "" when accepted
	}{
		{"bzImage", "initrd.zst", ""},
		{"bzImage", "", ""},
		{"bzImage", "kexec-boot", "names kexec-boot as its initrd, which is already the script kexec-boot"},
		{"kexec-boot", "initrd.zst", "as its kernel, which is already the script kexec-boot"},
		{"bzImage", "SHA256SUMS", "which is already the checksums file SHA256SUMS"},
		{"SHA256SUMS.minisig", "initrd", "which is already the checksums file SHA256SUMS.minisig"},
		{"bzImage", "bzImage", "names bzImage as its initrd, which is already the kernel"},
	} {
		err := Tree{Kernel: tc.kernel, Initrd: tc.initrd, From: "kexec-boot"}.CheckNames(scripts, verifiers)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s + %s: %v", tc.kernel, tc.initrd, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s + %s: %v, want %q", tc.kernel, tc.initrd, err, tc.want)
		}
	}
}
