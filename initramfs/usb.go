package main

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path"
	"strconv"
	"strings"

	diskfs "github.com/diskfs/go-diskfs"
	"github.com/diskfs/go-diskfs/filesystem"
	"github.com/diskfs/go-diskfs/partition/gpt"
)

// The USB image: a GPT disk an operator writes to a stick with dd. Its EFI
// system partition holds systemd-boot as the removable-media loader, one
// loader entry, the kernel and the initrds; a second partition is left
// empty for the operator's own files.
const (
	mib           = 1 << 20
	sectorSize    = 512
	minESPSize    = 64 * mib // room to replace the kernel or initramfs in place with bigger ones
	filesPartSize = 16 * mib
	filesPartName = "homestaker-files"
	espPartName   = "EFI system partition"
	espLabel      = "HOMESTAKER"
	espLoaderPath = "EFI/BOOT/BOOTX64.EFI"
	entryName     = "homestaker.conf"
	// FAT timestamps when SOURCE_DATE_EPOCH is unset: 1980-01-01, the
	// earliest FAT can hold, so two builds give the same image.
	fatEpoch = 315532800
)

// usbLayout is what writeUSB made, for the summary.
type usbLayout struct {
	imageSize, espSize, filesSize int64
	payload                       int64 // bytes of files in the ESP
}

// espSizeFor gives payload 20% room (FAT overhead, and a later kernel or
// initramfs written over these), in whole MiB, at least minESPSize.
func espSizeFor(payload int64) int64 {
	s := payload + payload/5
	s = (s + mib - 1) / mib * mib
	return max(s, minESPSize)
}

func loaderConf() string {
	return "default " + entryName + "\ntimeout 0\n"
}

// loaderEntry is the systemd-boot entry (Boot Loader Specification type
// 1): paths are absolute on the ESP; initrd lines load in order and are
// concatenated, as the kernel expects.
func loaderEntry(cmdline string, initrds []string) string {
	var b strings.Builder
	b.WriteString("title homestaker-boot\nlinux /" + kernelName + "\n")
	for _, n := range initrds {
		b.WriteString("initrd /" + n + "\n")
	}
	b.WriteString("options " + cmdline + "\n")
	return b.String()
}

// writeUSB writes m.usbImage, without root or loop devices: go-diskfs
// writes the partition table and the FAT32 filesystem into a plain file.
func writeUSB(m bootMedia, initramfs string) (usbLayout, error) {
	var l usbLayout
	sum, err := inputsHash(m, initramfs)
	if err != nil {
		return l, err
	}
	files := append([]mediaFile{{espLoaderPath, m.efiLoader}}, m.files(initramfs)...)
	confs := []struct{ name, text string }{
		{"loader/loader.conf", loaderConf()},
		{"loader/entries/" + entryName, loaderEntry(m.cmdline, m.initrdNames())},
	}
	for _, f := range files {
		st, err := os.Stat(f.src)
		if err != nil {
			return l, err
		}
		l.payload += st.Size()
	}
	for _, c := range confs {
		l.payload += int64(len(c.text))
	}
	l.espSize = espSizeFor(l.payload)
	l.filesSize = filesPartSize
	// 1 MiB before the first partition (alignment, primary GPT) and 1 MiB
	// after the last (the backup GPT).
	l.imageSize = mib + l.espSize + l.filesSize + mib

	tmp := m.usbImage + ".tmp"
	if err := os.Remove(tmp); err != nil && !os.IsNotExist(err) {
		return l, err
	}
	d, err := diskfs.Create(tmp, l.imageSize, diskfs.SectorSize512)
	if err != nil {
		return l, err
	}
	ok := false
	defer func() {
		if d.Backend != nil {
			d.Close()
		}
		if !ok {
			os.Remove(tmp)
		}
	}()

	espStart := uint64(mib / sectorSize)
	espEnd := espStart + uint64(l.espSize/sectorSize) - 1
	filesStart := espEnd + 1
	filesEnd := filesStart + uint64(l.filesSize/sectorSize) - 1
	table := &gpt.Table{
		LogicalSectorSize:  sectorSize,
		PhysicalSectorSize: sectorSize,
		ProtectiveMBR:      true,
		GUID:               guidFrom(sum, "disk"),
		Partitions: []*gpt.Partition{
			{Index: 1, Start: espStart, End: espEnd, Type: gpt.EFISystemPartition, Name: espPartName, GUID: guidFrom(sum, "esp")},
			{Index: 2, Start: filesStart, End: filesEnd, Type: gpt.LinuxFilesystem, Name: filesPartName, GUID: guidFrom(sum, "files")},
		},
	}
	if err := d.Partition(table); err != nil {
		return l, err
	}

	// go-diskfs stamps FAT directory entries with SOURCE_DATE_EPOCH, else
	// the time of day.
	if _, set := os.LookupEnv("SOURCE_DATE_EPOCH"); !set {
		os.Setenv("SOURCE_DATE_EPOCH", strconv.Itoa(fatEpoch))
		defer os.Unsetenv("SOURCE_DATE_EPOCH")
	}
	esp, err := createESP(d, int64(espStart)*sectorSize, l.espSize)
	if err != nil {
		return l, fmt.Errorf("FAT32 on the EFI system partition: %v", err)
	}
	for _, c := range confs {
		if err := writeFAT(esp, c.name, strings.NewReader(c.text)); err != nil {
			return l, err
		}
	}
	for i, f := range files {
		in, err := os.Open(f.src)
		if err != nil {
			return l, err
		}
		var r io.Reader = in
		// systemd-boot 252 hands the kernel its initrds back to back. The
		// kernel reads a cpio archive after a compressed one only from a
		// 4-byte boundary (and skips zeros), so every initrd but the last
		// is padded.
		if i >= 2 && i < len(files)-1 { // files: loader, kernel, initrds
			st, err := in.Stat()
			if err != nil {
				in.Close()
				return l, err
			}
			r = io.MultiReader(in, bytes.NewReader(make([]byte, (4-st.Size()%4)%4)))
		}
		err = writeFAT(esp, f.name, r)
		in.Close()
		if err != nil {
			return l, err
		}
	}
	if err := finishFAT32(d, int64(espStart)*sectorSize); err != nil {
		return l, fmt.Errorf("FAT32 on the EFI system partition: %v", err)
	}
	if err := d.Close(); err != nil {
		return l, err
	}
	if err := os.Rename(tmp, m.usbImage); err != nil {
		return l, err
	}
	ok = true
	return l, nil
}

// writeFAT writes r as name (slash-separated, from the root) on fs. Big
// chunks: go-diskfs rewalks the cluster chain and rewrites the FAT on
// every Write.
func writeFAT(fs filesystem.FileSystem, name string, r io.Reader) error {
	if dir := path.Dir(name); dir != "." {
		if err := fs.Mkdir("/" + dir); err != nil {
			return fmt.Errorf("mkdir /%s on the ESP: %v", dir, err)
		}
	}
	f, err := fs.OpenFile("/"+name, os.O_CREATE|os.O_RDWR|os.O_TRUNC)
	if err != nil {
		return fmt.Errorf("creating /%s on the ESP: %v", name, err)
	}
	defer f.Close()
	buf := make([]byte, 32*mib)
	for {
		n, rerr := io.ReadFull(r, buf)
		if n > 0 {
			if _, err := f.Write(buf[:n]); err != nil {
				return fmt.Errorf("writing /%s on the ESP: %v", name, err)
			}
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			return nil
		}
		if rerr != nil {
			return rerr
		}
	}
}

// inputsHash is a digest of everything the image is made from, by the
// names the files get on it.
func inputsHash(m bootMedia, initramfs string) ([]byte, error) {
	h := sha256.New()
	for _, f := range append([]mediaFile{{espLoaderPath, m.efiLoader}}, m.files(initramfs)...) {
		in, err := os.Open(f.src)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(h, "%s\x00", f.name)
		_, err = io.Copy(h, in)
		in.Close()
		if err != nil {
			return nil, fmt.Errorf("reading %s: %v", f.src, err)
		}
	}
	fmt.Fprintf(h, "cmdline\x00%s", m.cmdline)
	return h.Sum(nil), nil
}

// guidFrom derives a GUID for what from sum: the same inputs give the
// same GUIDs, so two builds give the same image. The version nibble says
// 8 (RFC 9562: custom), the variant bits RFC 4122.
func guidFrom(sum []byte, what string) string {
	h := sha256.Sum256(append(append([]byte{}, sum...), what...))
	h[6] = h[6]&0x0f | 0x80
	h[8] = h[8]&0x3f | 0x80
	return fmt.Sprintf("%X-%X-%X-%X-%X", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}
