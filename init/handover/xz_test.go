package handover

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"io"
	"math/rand"
	"os/exec"
	"testing"
)

// storedXZ builds an xz stream whose LZMA2 data is stored, not compressed:
// what the decoder's container code needs, without an encoder.
func storedXZ(data []byte) []byte {
	var b bytes.Buffer
	le32 := func(v uint32) { binary.Write(&b, binary.LittleEndian, v) }
	flags := []byte{0x00, 0x01} // CRC32
	b.Write(xzMagic)
	b.Write(flags)
	le32(crc32.ChecksumIEEE(flags))

	blockStart := b.Len()
	hdr := []byte{0x02, 0x00, 0x21, 0x01, 16, 0, 0, 0} // size (2+1)*4, flags, LZMA2, 1 byte, dict 256 KiB, padding
	b.Write(hdr)
	le32(crc32.ChecksumIEEE(hdr))
	headerSize := b.Len() - blockStart

	dataStart := b.Len()
	for i, rest := 0, data; len(rest) > 0; i++ {
		n := min(len(rest), 1<<16)
		control := byte(0x02)
		if i == 0 {
			control = 0x01
		}
		b.WriteByte(control)
		binary.Write(&b, binary.BigEndian, uint16(n-1))
		b.Write(rest[:n])
		rest = rest[n:]
	}
	b.WriteByte(0x00)
	compressed := b.Len() - dataStart
	for b.Len()%4 != 0 {
		b.WriteByte(0)
	}
	le32(crc32.ChecksumIEEE(data))
	unpadded := headerSize + compressed + 4

	indexStart := b.Len()
	vli := func(v uint64) {
		for v >= 0x80 {
			b.WriteByte(byte(v) | 0x80)
			v >>= 7
		}
		b.WriteByte(byte(v))
	}
	b.WriteByte(0)
	vli(1)
	vli(uint64(unpadded))
	vli(uint64(len(data)))
	for b.Len()%4 != 0 {
		b.WriteByte(0)
	}
	le32(crc32.ChecksumIEEE(b.Bytes()[indexStart:]))
	indexSize := b.Len() - indexStart

	footer := make([]byte, 6)
	binary.LittleEndian.PutUint32(footer, uint32(indexSize/4-1))
	copy(footer[4:], flags)
	le32(crc32.ChecksumIEEE(footer))
	b.Write(footer)
	b.WriteString("YZ")
	return b.Bytes()
}

func decodeXZ(t testing.TB, stream []byte) ([]byte, int64, error) {
	t.Helper()
	cr := &countingByteReader{r: bufio.NewReader(bytes.NewReader(stream))}
	x, err := newXZReader(cr)
	if err != nil {
		return nil, 0, err
	}
	out, err := io.ReadAll(x)
	return out, cr.n, err
}

func TestXZStored(t *testing.T) {
	data := bytes.Repeat([]byte("stored xz chunk "), 10000) // 160000 bytes, three chunks
	stream := storedXZ(data)
	got, n, err := decodeXZ(t, append(stream, "TRAILING"...))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("decoded %d bytes, want %d", len(got), len(data))
	}
	if n != int64(len(stream)) {
		t.Errorf("read %d bytes, the stream is %d: it must stop at its footer", n, len(stream))
	}
}

func TestXZCorrupt(t *testing.T) {
	data := bytes.Repeat([]byte("abc"), 1000)
	stream := storedXZ(data)
	for _, tc := range []struct {
		name string
		at   int
	}{
		{"stream flags", 7},
		{"block header", 13},
		{"data", 40},
		{"check", len(stream) - 36},
		{"footer", len(stream) - 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := bytes.Clone(stream)
			bad[tc.at] ^= 0x55
			if _, _, err := decodeXZ(t, bad); err == nil {
				t.Errorf("byte %d flipped: no error", tc.at)
			}
		})
	}
	if _, _, err := decodeXZ(t, stream[:len(stream)-20]); err == nil {
		t.Error("truncated stream: no error")
	}
}

// TestXZTool decodes what the xz tool writes with real LZMA2 compression,
// with each check type and the options kernels and initrd builders use.
func TestXZTool(t *testing.T) {
	tool, err := exec.LookPath("xz")
	if err != nil {
		t.Skip("no xz tool to produce test streams")
	}
	rng := rand.New(rand.NewSource(1))
	random := make([]byte, 300000)
	rng.Read(random)
	var text bytes.Buffer
	for i := 0; text.Len() < 1<<20; i++ {
		text.WriteString("line ")
		text.WriteString(string(rune('a' + i%26)))
		text.Write(random[i%1000 : i%1000+i%37])
		text.WriteString("\n")
	}
	inputs := map[string][]byte{
		"empty":  nil,
		"byte":   {0x42},
		"random": random,
		"text":   text.Bytes(),
		"mixed":  append(append(bytes.Clone(text.Bytes()[:500000]), random...), text.Bytes()...),
	}
	args := [][]string{
		{"--check=crc32", "--lzma2=dict=1MiB"}, // what the kernel's initramfs compression uses
		{"--check=crc64"},
		{"--check=sha256", "-9"},
		{"--check=none", "-0"},
		{"--check=crc32", "--lzma2=lc=0,lp=2,pb=0"},
		{"--check=crc32", "--block-size=100000"}, // several blocks
		{"--check=crc32", "--lzma2=preset=6e,lc=4"},
	}
	for name, in := range inputs {
		for _, a := range args {
			cmd := exec.Command(tool, append([]string{"-c", "-z"}, a...)...)
			cmd.Stdin = bytes.NewReader(in)
			stream, err := cmd.Output()
			if err != nil {
				t.Fatalf("xz %v: %v", a, err)
			}
			got, n, err := decodeXZ(t, stream)
			if err != nil {
				t.Errorf("%s, xz %v: %v", name, a, err)
				continue
			}
			if !bytes.Equal(got, in) {
				t.Errorf("%s, xz %v: decoded %d bytes differ from the %d put in", name, a, len(got), len(in))
			}
			if n != int64(len(stream)) {
				t.Errorf("%s, xz %v: read %d of %d bytes", name, a, n, len(stream))
			}
		}
	}
}

func FuzzXZ(f *testing.F) {
	f.Add(storedXZ([]byte("hello, fuzz")))
	f.Add(storedXZ(bytes.Repeat([]byte{0}, 70000)))
	f.Fuzz(func(t *testing.T, stream []byte) {
		cr := &countingByteReader{r: bufio.NewReader(bytes.NewReader(stream))}
		x, err := newXZReader(cr)
		if err != nil {
			return
		}
		io.Copy(io.Discard, io.LimitReader(x, 64<<20))
	})
}
