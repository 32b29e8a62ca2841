package netup

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestNTPTimeRoundTrip(t *testing.T) {
	for _, s := range []string{
		"1970-01-01T00:00:00Z",           // an RTC reset to the epoch
		"2026-05-01T12:34:56.789012345Z", // now-ish
		"2036-02-07T06:28:15Z",           // the last second of era 0
		"2036-02-07T06:28:16Z",           // the first of era 1
		"2100-01-01T00:00:00.5Z",
	} {
		want, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		got := toNTPTime(want).Time()
		if d := got.Sub(want); d < -time.Nanosecond || d > time.Nanosecond {
			t.Errorf("%s: round trip gives %s", s, got.Format(time.RFC3339Nano))
		}
	}
	// The era boundary as the protocol writes it.
	if got := toNTPTime(time.Date(2036, 2, 7, 6, 28, 16, 0, time.UTC)); got != 0 {
		t.Errorf("2036-02-07T06:28:16Z = %#x, want 0", uint64(got))
	}
	if got := toNTPTime(time.Unix(0, 0)); got>>32 != ntpEpochOffset {
		t.Errorf("the Unix epoch = %#x, want seconds %d", uint64(got), ntpEpochOffset)
	}
}

func TestSNTPRequest(t *testing.T) {
	b := sntpRequest(0x0123456789abcdef)
	if len(b) != 48 {
		t.Fatalf("request of %d bytes, want 48", len(b))
	}
	if b[0] != 0x23 {
		t.Errorf("first byte %#x, want 0x23 (LI 0, version 4, mode 3)", b[0])
	}
	if got := binary.BigEndian.Uint64(b[40:]); got != 0x0123456789abcdef {
		t.Errorf("transmit timestamp %#x", got)
	}
	for i, c := range b[1:40] {
		if c != 0 {
			t.Errorf("byte %d = %#x, want 0", i+1, c)
		}
	}
}

// answer builds a server's answer to the request whose transmit
// timestamp was sent; edit changes it before encoding.
func answer(sent ntpTime, edit func(b []byte)) []byte {
	b := make([]byte, 48)
	b[0] = 0<<6 | 4<<3 | 4
	b[1] = 2
	copy(b[12:], "GPS\x00")
	binary.BigEndian.PutUint64(b[24:], uint64(sent))
	binary.BigEndian.PutUint64(b[32:], uint64(toNTPTime(time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC))))
	binary.BigEndian.PutUint64(b[40:], uint64(toNTPTime(time.Date(2026, 5, 1, 12, 0, 0, 1000, time.UTC))))
	if edit != nil {
		edit(b)
	}
	return b
}

func TestParseSNTPResponse(t *testing.T) {
	const sent = ntpTime(0xe9b1a2c300000000)
	tests := []struct {
		name  string
		b     []byte
		want  string // substring of the error, "" for none
		other bool   // the error is errOtherRequest
	}{
		{name: "good", b: answer(sent, nil)},
		{name: "version 3 server", b: answer(sent, func(b []byte) { b[0] = 3<<3 | 4 })},
		{name: "leap second pending", b: answer(sent, func(b []byte) { b[0] |= 1 << 6 })},
		{name: "longer, with an extension", b: append(answer(sent, nil), make([]byte, 20)...)},
		{name: "short", b: answer(sent, nil)[:47], want: "47 bytes"},
		{name: "empty", b: nil, want: "0 bytes"},
		{name: "client mode", b: answer(sent, func(b []byte) { b[0] = 4<<3 | 3 }), want: "mode 3"},
		{name: "broadcast mode", b: answer(sent, func(b []byte) { b[0] = 4<<3 | 5 }), want: "mode 5"},
		{name: "version 0", b: answer(sent, func(b []byte) { b[0] = 0<<3 | 4 }), want: "version 0"},
		{name: "other request", b: answer(sent+1, nil), want: "another request", other: true},
		{name: "kiss of death", b: answer(sent, func(b []byte) { b[1] = 0; copy(b[12:], "RATE") }), want: `kiss-o'-death "RATE"`},
		{name: "unsynchronised stratum", b: answer(sent, func(b []byte) { b[1] = 16 }), want: "stratum 16"},
		{name: "alarm", b: answer(sent, func(b []byte) { b[0] |= 3 << 6 }), want: "leap indicator 3"},
		{name: "no transmit time", b: answer(sent, func(b []byte) { clear(b[40:48]) }), want: "transmit timestamp"},
		{name: "no receive time", b: answer(sent, func(b []byte) { clear(b[32:40]) }), want: "receive timestamp"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := parseSNTPResponse(tt.b, sent)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				if r.Originate != sent || r.Transmit == 0 || r.Stratum != 2 {
					t.Errorf("response %+v", r)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
			if errors.Is(err, errOtherRequest) != tt.other {
				t.Errorf("errors.Is(err, errOtherRequest) = %v", !tt.other)
			}
		})
	}
}

func TestClockOffset(t *testing.T) {
	base := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	ms := time.Millisecond
	tests := []struct {
		name           string
		t1, t2, t3, t4 time.Time
		offset, delay  time.Duration
	}{
		{"in sync, 20ms each way", base, base.Add(20 * ms), base.Add(21 * ms), base.Add(41 * ms), 0, 40 * ms},
		{"local clock 5s slow", base, base.Add(5*time.Second + 10*ms), base.Add(5*time.Second + 10*ms), base.Add(20 * ms), 5 * time.Second, 20 * ms},
		{"local clock 300ms fast", base, base.Add(-300*ms + 10*ms), base.Add(-300*ms + 12*ms), base.Add(22 * ms), -300 * ms, 20 * ms},
		{"RTC reset to 1970", time.Unix(0, 0), base.Add(5 * ms), base.Add(5 * ms), time.Unix(0, int64(10*ms)), base.Sub(time.Unix(0, 0)), 10 * ms},
	}
	for _, tt := range tests {
		off, delay := clockOffset(tt.t1, tt.t2, tt.t3, tt.t4)
		if off != tt.offset || delay != tt.delay {
			t.Errorf("%s: offset %v, delay %v; want %v, %v", tt.name, off, delay, tt.offset, tt.delay)
		}
	}
	// A monotonic reading on T1 must not change the arithmetic.
	now := time.Now()
	off, _ := clockOffset(now, now.Round(0).Add(time.Second), now.Round(0).Add(time.Second), now.Add(0))
	if off != time.Second {
		t.Errorf("with monotonic readings: offset %v, want 1s", off)
	}
}

func FuzzParseSNTPResponse(f *testing.F) {
	const sent = ntpTime(0xe9b1a2c312345678)
	f.Add(answer(sent, nil))
	f.Add(answer(sent, func(b []byte) { b[1] = 0; copy(b[12:], "DENY") }))
	f.Add(answer(sent+1, nil))
	f.Add([]byte{0x24})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parseSNTPResponse(b, sent)
		if err != nil {
			return
		}
		if len(b) < 48 || b[0]&7 != modeServer || r.Originate != sent || r.Stratum < 1 || r.Stratum > 15 || r.Leap == 3 || r.Transmit == 0 {
			t.Fatalf("accepted a bad answer %x as %+v", b, r)
		}
		// Whatever the server says reads as a time that converts back to
		// the same timestamp, but for the rounding to nanoseconds.
		for _, ts := range []ntpTime{r.Transmit, r.Receive} {
			back := toNTPTime(ts.Time())
			if d := int64(back - ts); d < -3 || d > 3 {
				t.Fatalf("%#x reads as %v, which converts back to %#x", uint64(ts), ts.Time(), uint64(back))
			}
		}
	})
}
