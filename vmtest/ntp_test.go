package vmtest

import (
	"encoding/binary"
	"net"
	"time"
)

// ntpEpochOffset is the seconds from 1900 (NTP) to 1970 (Unix).
const ntpEpochOffset = 2208988800

// serveNTP answers SNTP requests on UDP 127.0.0.1:123, which guests reach
// as 10.0.2.2:123: the user network has no time server of its own, and a
// boot must not wait on the internet's.
func serveNTP() (stop func(), err error) {
	pc, err := net.ListenPacket("udp4", "127.0.0.1:123")
	if err != nil {
		return nil, err
	}
	go func() {
		buf := make([]byte, 512)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if n < 48 {
				continue
			}
			_, _ = pc.WriteTo(ntpReply(buf[:48], time.Now()), from)
		}
	}()
	return func() { pc.Close() }, nil
}

func ntpReply(req []byte, now time.Time) []byte {
	resp := make([]byte, 48)
	version := (req[0] >> 3) & 7
	resp[0] = version<<3 | 4 // no leap warning, server mode
	resp[1] = 2              // stratum
	resp[2] = req[2]
	resp[3] = 0xec // precision
	copy(resp[12:16], "HSTB")
	ts := ntpTime(now)
	binary.BigEndian.PutUint64(resp[16:], ts) // reference
	copy(resp[24:32], req[40:48])             // originate = the client's transmit
	binary.BigEndian.PutUint64(resp[32:], ts) // receive
	binary.BigEndian.PutUint64(resp[40:], ts) // transmit
	return resp
}

func ntpTime(t time.Time) uint64 {
	secs := uint64(t.Unix() + ntpEpochOffset)
	frac := uint64(t.Nanosecond()) << 32 / 1e9
	return secs<<32 | frac
}
