package netup

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"
)

// The SNTP client of RFC 4330: one 48-byte request in client mode, one
// answer from a server, the clock offset from the four timestamps. This
// file is the protocol only, pure functions over bytes and times; ntp.go
// does the network and the clock.

const (
	sntpPacketSize = 48
	sntpVersion    = 4
	modeClient     = 3
	modeServer     = 4
	// ntpEpochOffset is the number of seconds from the NTP epoch
	// (1900-01-01) to the Unix epoch (1970-01-01).
	ntpEpochOffset = 2208988800
)

// ntpTime is a 64-bit NTP timestamp: seconds since 1900 in the high 32
// bits, the fraction of a second in the low 32.
type ntpTime uint64

// toNTPTime converts t; times from 2036-02-07 on wrap into era 1, as the
// protocol has them.
func toNTPTime(t time.Time) ntpTime {
	secs := uint64(t.Unix()+ntpEpochOffset) & 0xffffffff
	frac := (uint64(t.Nanosecond())<<32 + 500_000_000) / 1_000_000_000
	return ntpTime(secs<<32 + frac)
}

// Time converts n back. A seconds field with its top bit clear is taken as
// era 1 (2036-2104), as RFC 4330 section 3 suggests, so that the client
// keeps working after 2036 while a clock reset to 1970 still reads right.
func (n ntpTime) Time() time.Time {
	secs := int64(n >> 32)
	if secs&0x80000000 == 0 {
		secs += 1 << 32
	}
	nsec := (int64(uint32(n))*1_000_000_000 + 1<<31) >> 32
	return time.Unix(secs-ntpEpochOffset, nsec).UTC()
}

// sntpRequest returns a client request whose transmit timestamp is
// transmit; the server copies it into its answer's originate timestamp,
// which is how the answer is matched to the request.
func sntpRequest(transmit ntpTime) []byte {
	b := make([]byte, sntpPacketSize)
	b[0] = 0<<6 | sntpVersion<<3 | modeClient // LI 0, VN 4, mode 3
	binary.BigEndian.PutUint64(b[40:], uint64(transmit))
	return b
}

// errOtherRequest: the packet does not answer our request.
var errOtherRequest = errors.New("answer to another request")

// sntpResponse is what a server's answer says.
type sntpResponse struct {
	Leap, Version, Stratum uint8
	RefID                  [4]byte
	Originate              ntpTime // T1, our request's transmit timestamp
	Receive                ntpTime // T2, when the server got the request
	Transmit               ntpTime // T3, when the server sent the answer
}

// parseSNTPResponse checks an answer to the request whose transmit
// timestamp was sent, as RFC 4330 section 5 asks of a client.
func parseSNTPResponse(b []byte, sent ntpTime) (sntpResponse, error) {
	var r sntpResponse
	if len(b) < sntpPacketSize {
		return r, fmt.Errorf("answer of %d bytes, shorter than the %d of an NTP packet", len(b), sntpPacketSize)
	}
	r.Leap, r.Version = b[0]>>6, b[0]>>3&7
	mode := b[0] & 7
	r.Stratum = b[1]
	copy(r.RefID[:], b[12:16])
	r.Originate = ntpTime(binary.BigEndian.Uint64(b[24:]))
	r.Receive = ntpTime(binary.BigEndian.Uint64(b[32:]))
	r.Transmit = ntpTime(binary.BigEndian.Uint64(b[40:]))
	switch {
	case mode != modeServer:
		return r, fmt.Errorf("answer in mode %d, not a server's (4)", mode)
	case r.Version < 1 || r.Version > 4:
		return r, fmt.Errorf("answer of NTP version %d", r.Version)
	case r.Originate != sent:
		// A late answer to an earlier request, or a forged one.
		return r, fmt.Errorf("%w (originate timestamp %#x, sent %#x)", errOtherRequest, uint64(r.Originate), uint64(sent))
	case r.Stratum == 0:
		// A kiss-o'-death: the reference ID holds an ASCII code such as RATE or DENY.
		return r, fmt.Errorf("kiss-o'-death %q from the server", kissCode(r.RefID))
	case r.Stratum > 15:
		return r, fmt.Errorf("stratum %d: the server is not synchronised", r.Stratum)
	case r.Leap == 3:
		return r, fmt.Errorf("leap indicator 3: the server's clock is not synchronised")
	case r.Transmit == 0:
		return r, fmt.Errorf("answer without a transmit timestamp")
	case r.Receive == 0:
		return r, fmt.Errorf("answer without a receive timestamp")
	}
	return r, nil
}

// kissCode returns the printable part of a kiss-o'-death reference ID.
func kissCode(id [4]byte) string {
	return strings.Map(func(r rune) rune {
		if r < ' ' || r > '~' {
			return -1
		}
		return r
	}, string(id[:]))
}

// clockOffset returns how far the local clock is behind the server's
// (positive: the local clock is slow) and the round-trip delay, from T1
// (request sent, local), T2 (received, server), T3 (answer sent, server)
// and T4 (answer received, local): RFC 4330 section 5.
func clockOffset(t1, t2, t3, t4 time.Time) (offset, delay time.Duration) {
	// Round(0) drops monotonic readings, so that all four are wall times.
	t1, t2, t3, t4 = t1.Round(0), t2.Round(0), t3.Round(0), t4.Round(0)
	offset = (t2.Sub(t1) + t3.Sub(t4)) / 2
	delay = t4.Sub(t1) - t3.Sub(t2)
	return offset, delay
}
