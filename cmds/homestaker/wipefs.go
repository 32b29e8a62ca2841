package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
)

// The own probe knows the signatures of the first 64 KiB and Btrfs;
// libblkid knows many more (md RAID at the end of a device, bcache, ZFS,
// BitLocker, ReiserFS at 64 KiB, LUKS2's second header, ...). wipefs(8)
// lists every signature libblkid finds, where blkid -p names one and gives
// up on two, so prepare asks it and merges the two views.

// wipefsArgs asks for the columns parseWipefs reads, by name: the default
// set differs between util-linux versions.
var wipefsArgs = []string{"--no-act", "--json", "--output", "TYPE,OFFSET,UUID,LABEL,USAGE", "--"}

// maxWipefsOutput bounds what is read: a few hundred bytes per signature.
const maxWipefsOutput = 1 << 20

// libblkidSignatures runs wipefs --no-act on device. It writes nothing;
// it reads the device while prepare holds it open, O_EXCL for a block
// device, which wipefs --no-act does not ask for.
func libblkidSignatures(wipefs, device string) ([]Signature, error) {
	path, err := exec.LookPath(wipefs)
	if err != nil {
		return nil, errors.New("wipefs is not installed (Debian's and Fedora's util-linux package), so the signatures only libblkid knows " +
			"(md RAID at the end of a device, LVM2, LUKS, bcache, ZFS, BitLocker) are not ruled out; install util-linux")
	}
	cmd := exec.Command(path, append(slices.Clone(wipefsArgs), device)...)
	var stdout, stderr limitedBuffer
	stdout.max, stderr.max = maxWipefsOutput, 4096
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = "no message"
		}
		return nil, fmt.Errorf("%s %s %s: %v: %s", wipefs, strings.Join(wipefsArgs, " "), device, err, msg)
	}
	if stdout.cut {
		return nil, fmt.Errorf("%s %s: more than %d bytes of output", wipefs, device, maxWipefsOutput)
	}
	sigs, err := parseWipefs(stdout.Bytes())
	if err != nil {
		return nil, fmt.Errorf("%s %s: %v (prepare reads the JSON of util-linux 2.31 and later, which lists every magic)", wipefs, device, err)
	}
	return sigs, nil
}

// limitedBuffer keeps the first max bytes written to it.
type limitedBuffer struct {
	bytes.Buffer
	max int
	cut bool
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.Len(); len(p) > room {
		b.cut = true
		b.Buffer.Write(p[:max(room, 0)])
		return len(p), nil
	}
	return b.Buffer.Write(p)
}

// parseWipefs reads what wipefs --json --output TYPE,OFFSET,UUID,LABEL,USAGE
// prints: {"signatures": [{"type": "btrfs", "offset": "0x10040", "uuid":
// "...", "label": null, "usage": "filesystem"}, ...]}. A device without
// signatures gives an empty list; anything else that is not that shape is
// an error, never "nothing found".
func parseWipefs(out []byte) ([]Signature, error) {
	var doc struct {
		Signatures *[]struct {
			Type   string  `json:"type"`
			Offset string  `json:"offset"`
			UUID   *string `json:"uuid"`
			Label  *string `json:"label"`
			Usage  *string `json:"usage"`
		} `json:"signatures"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		return nil, fmt.Errorf("reading its JSON output: %v", err)
	}
	if doc.Signatures == nil {
		return nil, errors.New(`its JSON output has no "signatures" list`)
	}
	var sigs []Signature
	for i, e := range *doc.Signatures {
		if e.Type == "" {
			return nil, fmt.Errorf("signature %d has no type", i+1)
		}
		hex, ok := strings.CutPrefix(e.Offset, "0x")
		off, err := strconv.ParseUint(hex, 16, 63)
		if !ok || err != nil {
			return nil, fmt.Errorf("signature %d (%s): offset %q is not 0x and a hexadecimal number", i+1, printable(e.Type), e.Offset)
		}
		sigs = append(sigs, Signature{Kind: e.Type, Offset: int64(off), UUID: deref(e.UUID), Label: deref(e.Label), Detail: deref(e.Usage)})
	}
	return sigs, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// mergeSignatures adds what wipefs saw to what the own probe found. A
// signature both saw (the same kind at the same offset) is the own
// probe's, which reads more (a Btrfs's fsid and device count, an MBR's
// partitions), with what it lacks filled in from wipefs. A signature of a
// kind and UUID already listed is another copy of it, not another
// signature: LUKS2's second header, FAT's boot sector signatures, a Btrfs
// superblock mirror, GPT's backup header; its offset is kept in Also.
func mergeSignatures(own, seen []Signature) []Signature {
	sigs := make([]Signature, len(own))
	for i, s := range own {
		s.Also = slices.Clone(s.Also)
		sigs[i] = s
	}
	var rest []Signature
	for _, s := range seen {
		if i := slices.IndexFunc(sigs, func(o Signature) bool { return sameKind(o.Kind, s.Kind) && o.Offset == s.Offset }); i >= 0 {
			if sigs[i].UUID == "" {
				sigs[i].UUID = s.UUID
			}
			if sigs[i].Label == "" {
				sigs[i].Label = s.Label
			}
			if sigs[i].Detail == "" {
				sigs[i].Detail = s.Detail
			}
			continue
		}
		rest = append(rest, s)
	}
	for _, s := range rest {
		i := slices.IndexFunc(sigs, func(o Signature) bool {
			return sameKind(o.Kind, s.Kind) && (o.UUID != "" && o.UUID == s.UUID || o.Offset == s.Offset || slices.Contains(o.Also, s.Offset))
		})
		switch {
		case i < 0:
			sigs = append(sigs, s)
		case sigs[i].Offset != s.Offset && !slices.Contains(sigs[i].Also, s.Offset):
			sigs[i].Also = append(sigs[i].Also, s.Offset)
			slices.Sort(sigs[i].Also)
		}
	}
	return sigs
}

// sameKind says whether two names are one signature's: the own probe
// tells ext2, ext3 and ext4 apart by their features and calls a
// protective MBR dos, where blkid may decide otherwise.
func sameKind(a, b string) bool {
	family := func(k string) string {
		switch k {
		case "ext2", "ext3", "ext4", "ext4dev", "jbd":
			return "ext"
		case "PMBR":
			return "dos"
		}
		return k
	}
	return family(a) == family(b)
}

// allSignatures is the own probe of f and wipefs's view of device, the
// same file, merged. blind says why wipefs's view is missing: then sigs
// are the own probe's alone, which cannot rule out what it does not know.
func allSignatures(f *os.File, device, wipefs string) (sigs []Signature, blind, err error) {
	own, err := DetectSignatures(f)
	if err != nil {
		return nil, nil, err
	}
	seen, blind := libblkidSignatures(wipefs, device)
	if blind != nil {
		return own, blind, nil
	}
	return mergeSignatures(own, seen), nil, nil
}
