package handover

// LZMA2 as xz uses it: chunks of LZMA data or stored bytes, with resets of
// the dictionary, the properties and the state between them. The LZMA
// decoding follows the LZMA SDK's reference decoder (LzmaSpec.cpp).

import (
	"encoding/binary"
	"fmt"
	"io"
)

// lzma2Reader decodes LZMA2 chunks until the end marker. A chunk holds at
// most 2 MiB of output, decoded whole into out and handed out by Read.
type lzma2Reader struct {
	r *countingByteReader

	// The window: it grows up to dictSize as output comes, so that a
	// stream declaring a large dictionary costs only what it uses, then
	// wraps around.
	dict     []byte
	dictSize int
	pos      int    // next write position in dict
	full     int    // valid bytes in dict
	total    uint64 // bytes since the last dictionary reset

	out  []byte // the current chunk's output not yet read
	keep []byte // backing store for out

	lzma          lzmaState
	needDictReset bool // at the start
	needProps     bool // at the start and after each dictionary reset
	end           bool
	in            []byte // the current chunk's compressed bytes
}

func newLZMA2Reader(r *countingByteReader, dictSize int) *lzma2Reader {
	if dictSize < 4096 {
		dictSize = 4096
	}
	return &lzma2Reader{r: r, dict: make([]byte, min(dictSize, 1<<16)), dictSize: dictSize, needDictReset: true, needProps: true}
}

func (z *lzma2Reader) Read(p []byte) (int, error) {
	for len(z.out) == 0 {
		if z.end {
			return 0, io.EOF
		}
		if err := z.chunk(); err != nil {
			return 0, err
		}
	}
	n := copy(p, z.out)
	z.out = z.out[n:]
	return n, nil
}

func (z *lzma2Reader) chunk() error {
	control, err := z.r.ReadByte()
	if err != nil {
		return fmt.Errorf("xz: LZMA2 chunk: %w", noEOF(err))
	}
	switch {
	case control == 0x00:
		z.end = true
		return nil
	case control == 0x01 || control == 0x02:
		if control == 0x01 {
			z.resetDict()
		} else if z.needDictReset {
			return xzCorrupt("LZMA2 data does not start with a dictionary reset")
		}
		var b [2]byte
		if _, err := io.ReadFull(z.r, b[:]); err != nil {
			return fmt.Errorf("xz: LZMA2 chunk: %w", noEOF(err))
		}
		size := int(binary.BigEndian.Uint16(b[:])) + 1
		z.out = z.outBuf(size)
		if _, err := io.ReadFull(z.r, z.out); err != nil {
			return fmt.Errorf("xz: LZMA2 chunk: %w", noEOF(err))
		}
		for _, c := range z.out {
			z.put(c)
		}
		return nil
	case control < 0x80:
		return xzCorrupt("LZMA2 control byte %#x", control)
	}
	var b [4]byte
	if _, err := io.ReadFull(z.r, b[:]); err != nil {
		return fmt.Errorf("xz: LZMA2 chunk: %w", noEOF(err))
	}
	usize := (int(control&0x1f)<<16 | int(binary.BigEndian.Uint16(b[:2]))) + 1
	csize := int(binary.BigEndian.Uint16(b[2:])) + 1
	reset := (control >> 5) & 3
	if reset == 3 {
		z.resetDict()
	} else if z.needDictReset {
		return xzCorrupt("LZMA2 data does not start with a dictionary reset")
	}
	if reset >= 2 {
		props, err := z.r.ReadByte()
		if err != nil {
			return fmt.Errorf("xz: LZMA2 chunk: %w", noEOF(err))
		}
		if err := z.lzma.setProps(props); err != nil {
			return err
		}
		z.needProps = false
	} else if z.needProps {
		return xzCorrupt("LZMA2 chunk without properties")
	}
	if reset >= 1 {
		z.lzma.reset()
	}
	if cap(z.in) < csize {
		z.in = make([]byte, csize)
	}
	in := z.in[:csize]
	if _, err := io.ReadFull(z.r, in); err != nil {
		return fmt.Errorf("xz: LZMA2 chunk: %w", noEOF(err))
	}
	z.out = z.outBuf(usize)[:0]
	return z.decodeLZMA(in, usize)
}

func (z *lzma2Reader) outBuf(n int) []byte {
	if cap(z.keep) < n {
		z.keep = make([]byte, n, 2<<20)
	}
	return z.keep[:n]
}

func (z *lzma2Reader) resetDict() {
	z.pos, z.full, z.total = 0, 0, 0
	z.needDictReset = false
	// As in liblzma: the next LZMA chunk after a dictionary reset must
	// bring new properties.
	z.needProps = true
}

func (z *lzma2Reader) put(c byte) {
	if z.pos == len(z.dict) {
		if len(z.dict) < z.dictSize {
			// Not wrapped yet: the window is linear and can grow.
			z.dict = append(z.dict, make([]byte, min(len(z.dict), z.dictSize-len(z.dict)))...)
		} else {
			z.pos = 0
		}
	}
	z.dict[z.pos] = c
	z.pos++
	if z.full < z.dictSize {
		z.full++
	}
	z.total++
}

// back returns the byte dist+1 positions back (dist 0 is the last byte).
func (z *lzma2Reader) back(dist int) byte {
	i := z.pos - dist - 1
	if i < 0 {
		i += len(z.dict)
	}
	return z.dict[i]
}

const (
	lzmaStates        = 12
	lzmaPosStatesMax  = 1 << 4
	lzmaLenToPosState = 4
	lzmaEndPosModel   = 14
	lzmaFullDistances = 1 << (lzmaEndPosModel >> 1)
	lzmaAlignBits     = 4
	lzmaProbInit      = 1 << 10
)

type lzmaLenDecoder struct {
	choice, choice2 uint16
	low, mid        [lzmaPosStatesMax][1 << 3]uint16
	high            [1 << 8]uint16
}

type lzmaState struct {
	lc, lp, pb uint

	literal    []uint16
	isMatch    [lzmaStates << 4]uint16
	isRep      [lzmaStates]uint16
	isRepG0    [lzmaStates]uint16
	isRepG1    [lzmaStates]uint16
	isRepG2    [lzmaStates]uint16
	isRep0Long [lzmaStates << 4]uint16
	posSlot    [lzmaLenToPosState][1 << 6]uint16
	posSpecial [1 + lzmaFullDistances - lzmaEndPosModel]uint16
	align      [1 << lzmaAlignBits]uint16
	matchLen   lzmaLenDecoder
	repLen     lzmaLenDecoder

	state                  int
	rep0, rep1, rep2, rep3 int
}

func (s *lzmaState) setProps(b byte) error {
	if b >= 9*5*5 {
		return xzCorrupt("LZMA properties byte %#x", b)
	}
	s.lc, s.lp, s.pb = uint(b%9), uint(b/9%5), uint(b/45)
	if s.lc+s.lp > 4 {
		return xzCorrupt("LZMA2 lc+lp above 4")
	}
	return nil
}

func (s *lzmaState) reset() {
	n := 0x300 << (s.lc + s.lp)
	if cap(s.literal) < n {
		s.literal = make([]uint16, n)
	}
	s.literal = s.literal[:n]
	fill := func(p []uint16) {
		for i := range p {
			p[i] = lzmaProbInit
		}
	}
	fill(s.literal)
	fill(s.isMatch[:])
	fill(s.isRep[:])
	fill(s.isRepG0[:])
	fill(s.isRepG1[:])
	fill(s.isRepG2[:])
	fill(s.isRep0Long[:])
	for i := range s.posSlot {
		fill(s.posSlot[i][:])
	}
	fill(s.posSpecial[:])
	fill(s.align[:])
	for _, l := range []*lzmaLenDecoder{&s.matchLen, &s.repLen} {
		l.choice, l.choice2 = lzmaProbInit, lzmaProbInit
		for i := range l.low {
			fill(l.low[i][:])
			fill(l.mid[i][:])
		}
		fill(l.high[:])
	}
	s.state = 0
	s.rep0, s.rep1, s.rep2, s.rep3 = 0, 0, 0, 0
}

// rangeDecoder decodes from one chunk's compressed bytes.
type rangeDecoder struct {
	in    []byte
	i     int
	rng   uint32
	code  uint32
	short bool // read past the chunk
}

func (rc *rangeDecoder) next() uint32 {
	if rc.i >= len(rc.in) {
		rc.short = true
		return 0
	}
	b := rc.in[rc.i]
	rc.i++
	return uint32(b)
}

func (rc *rangeDecoder) normalize() {
	if rc.rng < 1<<24 {
		rc.rng <<= 8
		rc.code = rc.code<<8 | rc.next()
	}
}

func (rc *rangeDecoder) bit(p *uint16) int {
	rc.normalize()
	bound := (rc.rng >> 11) * uint32(*p)
	if rc.code < bound {
		rc.rng = bound
		*p += (1<<11 - *p) >> 5
		return 0
	}
	rc.rng -= bound
	rc.code -= bound
	*p -= *p >> 5
	return 1
}

func (rc *rangeDecoder) direct(n uint) int {
	v := 0
	for ; n > 0; n-- {
		rc.normalize()
		rc.rng >>= 1
		b := 0
		if rc.code >= rc.rng {
			rc.code -= rc.rng
			b = 1
		}
		v = v<<1 | b
	}
	return v
}

func (rc *rangeDecoder) tree(p []uint16, bits uint) int {
	m := 1
	for i := uint(0); i < bits; i++ {
		m = m<<1 | rc.bit(&p[m])
	}
	return m - 1<<bits
}

func (rc *rangeDecoder) reverseTree(p []uint16, bits uint) int {
	m, v := 1, 0
	for i := uint(0); i < bits; i++ {
		b := rc.bit(&p[m])
		m = m<<1 | b
		v |= b << i
	}
	return v
}

func (rc *rangeDecoder) length(l *lzmaLenDecoder, posState int) int {
	if rc.bit(&l.choice) == 0 {
		return 2 + rc.tree(l.low[posState][:], 3)
	}
	if rc.bit(&l.choice2) == 0 {
		return 2 + 8 + rc.tree(l.mid[posState][:], 3)
	}
	return 2 + 16 + rc.tree(l.high[:], 8)
}

func (z *lzma2Reader) decodeLZMA(in []byte, size int) error {
	if len(in) < 5 || in[0] != 0 {
		return xzCorrupt("LZMA chunk does not start a range coder")
	}
	rc := &rangeDecoder{in: in, i: 5, rng: 0xffffffff, code: binary.BigEndian.Uint32(in[1:5])}
	s := &z.lzma
	pbMask := uint64(1)<<s.pb - 1
	lpMask := uint64(1)<<s.lp - 1
	left := size
	for left > 0 {
		if rc.short {
			return xzCorrupt("LZMA chunk shorter than its output")
		}
		posState := int(z.total & pbMask)
		if rc.bit(&s.isMatch[s.state<<4+posState]) == 0 {
			prev := 0
			if z.full > 0 {
				prev = int(z.back(0))
			}
			base := 0x300 * int((z.total&lpMask)<<s.lc+uint64(prev>>(8-s.lc)))
			probs := s.literal[base : base+0x300]
			sym := 1
			if s.state >= 7 {
				if s.rep0 >= z.full {
					return xzCorrupt("LZMA distance beyond the dictionary")
				}
				match := int(z.back(s.rep0))
				for sym < 0x100 {
					mbit := match >> 7 & 1
					match <<= 1
					b := rc.bit(&probs[(1+mbit)<<8+sym])
					sym = sym<<1 | b
					if mbit != b {
						break
					}
				}
			}
			for sym < 0x100 {
				sym = sym<<1 | rc.bit(&probs[sym])
			}
			c := byte(sym - 0x100)
			z.put(c)
			z.out = append(z.out, c)
			left--
			switch {
			case s.state < 4:
				s.state = 0
			case s.state < 10:
				s.state -= 3
			default:
				s.state -= 6
			}
			continue
		}
		var n int
		if rc.bit(&s.isRep[s.state]) == 0 {
			s.rep3, s.rep2, s.rep1 = s.rep2, s.rep1, s.rep0
			n = rc.length(&s.matchLen, posState)
			if s.state < 7 {
				s.state = 7
			} else {
				s.state = 10
			}
			s.rep0 = rc.distance(s, n)
			if s.rep0 == 0xffffffff {
				return xzCorrupt("LZMA end marker inside LZMA2")
			}
		} else {
			if z.full == 0 {
				return xzCorrupt("LZMA repeat with an empty dictionary")
			}
			if rc.bit(&s.isRepG0[s.state]) == 0 {
				if rc.bit(&s.isRep0Long[s.state<<4+posState]) == 0 {
					if s.state < 7 {
						s.state = 9
					} else {
						s.state = 11
					}
					if s.rep0 >= z.full {
						return xzCorrupt("LZMA distance beyond the dictionary")
					}
					c := z.back(s.rep0)
					z.put(c)
					z.out = append(z.out, c)
					left--
					continue
				}
			} else {
				var d int
				if rc.bit(&s.isRepG1[s.state]) == 0 {
					d = s.rep1
				} else {
					if rc.bit(&s.isRepG2[s.state]) == 0 {
						d = s.rep2
					} else {
						d = s.rep3
						s.rep3 = s.rep2
					}
					s.rep2 = s.rep1
				}
				s.rep1 = s.rep0
				s.rep0 = d
			}
			n = rc.length(&s.repLen, posState)
			if s.state < 7 {
				s.state = 8
			} else {
				s.state = 11
			}
		}
		if s.rep0 >= z.full {
			return xzCorrupt("LZMA distance beyond the dictionary")
		}
		if n > left {
			return xzCorrupt("LZMA match runs past the chunk")
		}
		for ; n > 0; n-- {
			c := z.back(s.rep0)
			z.put(c)
			z.out = append(z.out, c)
			left--
		}
	}
	rc.normalize()
	if rc.short || rc.i != len(rc.in) || rc.code != 0 {
		return xzCorrupt("LZMA chunk does not end where its header says")
	}
	return nil
}

func (rc *rangeDecoder) distance(s *lzmaState, n int) int {
	lenState := n - 2
	if lenState > lzmaLenToPosState-1 {
		lenState = lzmaLenToPosState - 1
	}
	slot := rc.tree(s.posSlot[lenState][:], 6)
	if slot < 4 {
		return slot
	}
	direct := uint(slot>>1) - 1
	dist := (2 | slot&1) << direct
	if slot < lzmaEndPosModel {
		return dist + rc.reverseTree(s.posSpecial[dist-slot:], direct)
	}
	dist += rc.direct(direct-lzmaAlignBits) << lzmaAlignBits
	return dist + rc.reverseTree(s.align[:], lzmaAlignBits)
}
