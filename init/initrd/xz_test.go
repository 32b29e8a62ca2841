package initrd

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"io"
	"math/rand"
	"strings"
	"testing"

	"github.com/ulikunitz/xz"
	"github.com/ulikunitz/xz/lzma"
)

// storedXZ builds an xz stream whose LZMA2 data is stored, not compressed,
// byte by byte as the format says: a check on the encoder.
func storedXZ(data []byte) []byte { return storedXZWith(data, false) }

// storedXZWith writes the block's compressed and uncompressed sizes into
// its header when sizes is set, as xz does in multi-threaded mode.
func storedXZWith(data []byte, sizes bool) []byte {
	var b bytes.Buffer
	le32 := func(v uint32) { binary.Write(&b, binary.LittleEndian, v) }
	flags := []byte{0x00, 0x01} // CRC32
	b.Write(xzMagic)
	b.Write(flags)
	le32(crc32.ChecksumIEEE(flags))

	var chunks bytes.Buffer
	for i, rest := 0, data; len(rest) > 0; i++ {
		n := min(len(rest), 1<<16)
		control := byte(0x02)
		if i == 0 {
			control = 0x01
		}
		chunks.WriteByte(control)
		binary.Write(&chunks, binary.BigEndian, uint16(n-1))
		chunks.Write(rest[:n])
		rest = rest[n:]
	}
	chunks.WriteByte(0x00)
	compressed := chunks.Len()

	vli := func(b *bytes.Buffer, v uint64) {
		for v >= 0x80 {
			b.WriteByte(byte(v) | 0x80)
			v >>= 7
		}
		b.WriteByte(byte(v))
	}
	blockStart := b.Len()
	hdr := bytes.NewBuffer([]byte{0, 0x00}) // size, flags
	if sizes {
		hdr.Bytes()[1] = 0xc0
		vli(hdr, uint64(compressed))
		vli(hdr, uint64(len(data)))
	}
	hdr.Write([]byte{0x21, 0x01, 16}) // LZMA2, 1 byte, dict 256 KiB
	for (hdr.Len()+4)%4 != 0 {
		hdr.WriteByte(0)
	}
	hdr.Bytes()[0] = byte((hdr.Len()+4)/4 - 1)
	b.Write(hdr.Bytes())
	le32(crc32.ChecksumIEEE(hdr.Bytes()))
	headerSize := b.Len() - blockStart

	b.Write(chunks.Bytes())
	for b.Len()%4 != 0 {
		b.WriteByte(0)
	}
	le32(crc32.ChecksumIEEE(data))
	unpadded := headerSize + compressed + 4

	indexStart := b.Len()
	b.WriteByte(0)
	vli(&b, 1)
	vli(&b, uint64(unpadded))
	vli(&b, uint64(len(data)))
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

// decodeXZ decodes the stream at the start of b and says how many bytes
// of b it is.
func decodeXZ(t testing.TB, b []byte) ([]byte, int64, error) {
	t.Helper()
	x, n, err := xzStream(bytes.NewReader(b), 0, int64(len(b)))
	if err != nil {
		return nil, 0, err
	}
	out, err := io.ReadAll(x)
	return out, n, err
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

// xzInputs are what the streams of the tests below carry: small enough
// for the Go encoder under -race, large enough for several LZMA2 chunks.
func xzInputs() map[string][]byte {
	rng := rand.New(rand.NewSource(1))
	random := make([]byte, 1<<16)
	rng.Read(random)
	var text bytes.Buffer
	for i := 0; text.Len() < 1<<16; i++ {
		text.WriteString("line ")
		text.WriteString(string(rune('a' + i%26)))
		text.Write(random[i%1000 : i%1000+i%37])
		text.WriteString("\n")
	}
	return map[string][]byte{
		"empty":  nil,
		"byte":   {0x42},
		"random": random,
		"text":   text.Bytes(),
		"mixed":  append(append(bytes.Clone(text.Bytes()[:20000]), random...), text.Bytes()[:20000]...),
	}
}

// xzCompress compresses data with ulikunitz/xz's writer.
func xzCompress(t testing.TB, c xz.WriterConfig, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w, err := c.NewWriter(&b)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestXZStreams decodes streams with real LZMA2 compression, with each
// check type and the options kernels and initrd builders use, and with a
// segment after each: the stream must end exactly at its footer.
func TestXZStreams(t *testing.T) {
	configs := map[string]xz.WriterConfig{
		"crc32, 1 MiB dictionary (the kernel's initramfs compression)": {CheckSum: xz.CRC32, DictCap: 1 << 20},
		"crc64":            {CheckSum: xz.CRC64},
		"sha256, 8 MiB":    {CheckSum: xz.SHA256, DictCap: 8 << 20},
		"no check, 64 KiB": {NoCheckSum: true, DictCap: 64 << 10},
		"lc=0,lp=2,pb=0":   {CheckSum: xz.CRC32, Properties: &lzma.Properties{LC: 0, LP: 2, PB: 0}},
		"blocks of 40000":  {CheckSum: xz.CRC32, BlockSize: 40000},
		"lc=4":             {CheckSum: xz.CRC32, Properties: &lzma.Properties{LC: 4, LP: 0, PB: 2}},
	}
	for name, in := range xzInputs() {
		for cname, c := range configs {
			stream := xzCompress(t, c, in)
			got, n, err := decodeXZ(t, append(bytes.Clone(stream), newc(false)...))
			if err != nil {
				t.Errorf("%s, %s: %v", name, cname, err)
				continue
			}
			if !bytes.Equal(got, in) {
				t.Errorf("%s, %s: decoded %d bytes differ from the %d put in", name, cname, len(got), len(in))
			}
			if n != int64(len(stream)) {
				t.Errorf("%s, %s: read %d of %d bytes", name, cname, n, len(stream))
			}
		}
	}
}

// TestXZSizesInHeader: a block header may carry the block's sizes.
func TestXZSizesInHeader(t *testing.T) {
	data := bytes.Repeat([]byte("sized "), 30000)
	stream := storedXZWith(data, true)
	got, n, err := decodeXZ(t, append(bytes.Clone(stream), 0x07, 0x07))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) || n != int64(len(stream)) {
		t.Errorf("decoded %d bytes of %d, read %d of %d", len(got), len(data), n, len(stream))
	}
}

// TestXZRefuses: what this init refuses before decoding, with the reason.
func TestXZRefuses(t *testing.T) {
	stream := storedXZ([]byte("data"))
	// header patches the block header (bytes 12 to 24) and its CRC32.
	header := func(patch func(h []byte)) []byte {
		b := bytes.Clone(stream)
		patch(b[12:20])
		binary.LittleEndian.PutUint32(b[20:], crc32.ChecksumIEEE(b[12:20]))
		return b
	}
	checkType := bytes.Clone(stream)
	checkType[7] = 0x02
	binary.LittleEndian.PutUint32(checkType[8:], crc32.ChecksumIEEE(checkType[6:8]))
	for _, tc := range []struct {
		name    string
		stream  []byte
		wantErr string
	}{
		{"dictionary", header(func(h []byte) { h[4] = 39 }), "a 3072 MiB dictionary is more than this decoder allows (1024 MiB)"},
		{"4 GiB dictionary", header(func(h []byte) { h[4] = 40 }), "a 4 GiB dictionary"},
		{"filter chain", header(func(h []byte) { h[1] = 0x01 }), "a chain of 2 filters is not supported"},
		{"filter", header(func(h []byte) { h[2] = 0x03 }), "filter 0x3 is not supported (only LZMA2)"},
		{"check type", checkType, "check type 0x2 not supported"},
		{"block header checksum", func() []byte { b := bytes.Clone(stream); b[16] ^= 1; return b }(), "block header checksum mismatch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := decodeXZ(t, tc.stream); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("got %v, want an error with %q", err, tc.wantErr)
			}
		})
	}
}

func FuzzXZ(f *testing.F) {
	f.Add(storedXZ([]byte("hello, fuzz")))
	f.Add(storedXZ(bytes.Repeat([]byte{0}, 70000)))
	f.Add(storedXZWith([]byte("sizes in the header"), true))
	f.Add(xzCompress(f, xz.WriterConfig{CheckSum: xz.CRC32, DictCap: 1 << 20}, bytes.Repeat([]byte("compressed "), 1000)))
	f.Fuzz(func(t *testing.T, stream []byte) {
		x, _, err := xzStream(bytes.NewReader(stream), 0, int64(len(stream)))
		if err != nil {
			return
		}
		io.Copy(io.Discard, io.LimitReader(x, 64<<20))
	})
}
