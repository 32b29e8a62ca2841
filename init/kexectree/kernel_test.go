package kexectree

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
)

func bzHeader(version uint16) []byte {
	b := make([]byte, 0x400)
	binary.LittleEndian.PutUint16(b[bootFlagOff:], 0xaa55)
	copy(b[headerOff:], "HdrS")
	binary.LittleEndian.PutUint16(b[versionOff:], version)
	return b
}

func TestCheckKernel(t *testing.T) {
	if err := CheckKernel("bzImage", bytes.NewReader(bzHeader(0x020f))); err != nil {
		t.Errorf("a bzImage header: %v", err)
	}
	elf := append([]byte("\x7fELF"), make([]byte, 0x400)...)
	for _, c := range []struct {
		name string
		data []byte
		want string
	}{
		{"an ELF vmlinux", elf, "not a bzImage"},
		{"a short file", []byte("hello"), "5 bytes"},
		{"an old protocol", bzHeader(0x0204), "boot protocol 2.04"},
		{"gzip", append([]byte{0x1f, 0x8b}, make([]byte, 0x400)...), "not a bzImage"},
	} {
		err := CheckKernel("/boot/current/bzImage", bytes.NewReader(c.data))
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "/boot/current/bzImage") {
			t.Errorf("%s: err = %v, want one naming the file and %q", c.name, err, c.want)
		}
	}
}
