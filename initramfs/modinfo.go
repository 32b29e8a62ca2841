package main

import (
	"bytes"
	"compress/gzip"
	"debug/elf"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// modinfo returns the values of key in the .modinfo section of the
// module file at path (.ko, or .ko.xz, .ko.zst, .ko.gz as depmod lists
// them), in file order: what `modinfo -F key` prints. The section is a
// run of NUL-terminated "key=value" strings (the kernel's MODULE_INFO).
func modinfo(path, key string) ([]string, error) {
	raw, err := readModule(path)
	if err != nil {
		return nil, err
	}
	f, err := elf.NewFile(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("%s: not an ELF module: %v", path, err)
	}
	sec := f.Section(".modinfo")
	if sec == nil {
		return nil, nil // a module without MODULE_INFO (never in practice)
	}
	data, err := sec.Data()
	if err != nil {
		return nil, fmt.Errorf("%s: reading .modinfo: %v", path, err)
	}
	var out []string
	for _, kv := range bytes.Split(data, []byte{0}) {
		if k, v, ok := strings.Cut(string(kv), "="); ok && k == key {
			out = append(out, v)
		}
	}
	return out, nil
}

// readModule reads a module file, decompressed.
func readModule(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r io.Reader
	switch {
	case strings.HasSuffix(path, ".ko"):
		return b, nil
	case strings.HasSuffix(path, ".ko.xz"):
		r, err = xz.NewReader(bytes.NewReader(b))
	case strings.HasSuffix(path, ".ko.zst"):
		var d *zstd.Decoder
		if d, err = zstd.NewReader(bytes.NewReader(b)); err == nil {
			defer d.Close()
			r = d
		}
	case strings.HasSuffix(path, ".ko.gz"):
		r, err = gzip.NewReader(bytes.NewReader(b))
	default:
		return nil, fmt.Errorf("%s: not a module file (want .ko, .ko.xz, .ko.zst or .ko.gz)", path)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("%s: decompressing: %v", path, err)
	}
	return out, nil
}
