package vmtest

import (
	"encoding/binary"
	"net"
	"net/netip"
	"strings"
	"testing"
)

// ServeDNS answers A queries for name with addr on UDP 127.0.0.1:53, which
// the guest reaches as 10.0.2.2:53; every other name is NXDOMAIN. It is the
// resolver the test controls for Endpoint hostnames.
func ServeDNS(t testing.TB, name string, addr netip.Addr) {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:53")
	if err != nil {
		t.Fatalf("test DNS server: %v", err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 512)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if resp := answerDNS(buf[:n], name, addr); resp != nil {
				_, _ = pc.WriteTo(resp, from)
			}
		}
	}()
}

// answerDNS builds the response to one query: the header, the question
// echoed, and an A record when the name matches.
func answerDNS(q []byte, name string, addr netip.Addr) []byte {
	if len(q) < 12 || binary.BigEndian.Uint16(q[4:]) != 1 {
		return nil
	}
	// Walk the question's name.
	i, labels := 12, []string{}
	for i < len(q) && q[i] != 0 {
		l := int(q[i])
		if i+1+l > len(q) {
			return nil
		}
		labels = append(labels, string(q[i+1:i+1+l]))
		i += 1 + l
	}
	if i+5 > len(q) {
		return nil
	}
	qtype := binary.BigEndian.Uint16(q[i+1:])
	question := q[12 : i+5]
	resp := append([]byte{}, q[:2]...)
	match := strings.EqualFold(strings.Join(labels, "."), strings.TrimSuffix(name, "."))
	flags, rcode, ancount := uint16(0x8180), uint16(0), uint16(0)
	if !match {
		rcode = 3
	} else if qtype == 1 {
		ancount = 1
	}
	resp = binary.BigEndian.AppendUint16(resp, flags|rcode)
	resp = binary.BigEndian.AppendUint16(resp, 1)
	resp = binary.BigEndian.AppendUint16(resp, ancount)
	resp = binary.BigEndian.AppendUint16(resp, 0)
	resp = binary.BigEndian.AppendUint16(resp, 0)
	resp = append(resp, question...)
	if ancount == 1 {
		a := addr.As4()
		resp = append(resp, 0xc0, 12) // pointer to the question's name
		resp = binary.BigEndian.AppendUint16(resp, 1)
		resp = binary.BigEndian.AppendUint16(resp, 1)
		resp = binary.BigEndian.AppendUint32(resp, 60)
		resp = binary.BigEndian.AppendUint16(resp, 4)
		resp = append(resp, a[:]...)
	}
	return resp
}

func TestAnswerDNS(t *testing.T) {
	q := []byte{0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 3, 'v', 'p', 'n', 4, 't', 'e', 's', 't', 0, 0, 1, 0, 1}
	r := answerDNS(q, "vpn.test", netip.MustParseAddr("10.0.2.2"))
	if r == nil || r[3]&0xf != 0 || binary.BigEndian.Uint16(r[6:]) != 1 || !strings.HasSuffix(string(r), string([]byte{10, 0, 2, 2})) {
		t.Fatalf("answer = %x", r)
	}
	if r := answerDNS(q, "other.test", netip.MustParseAddr("10.0.2.2")); r == nil || r[3]&0xf != 3 {
		t.Fatalf("no NXDOMAIN for another name: %x", r)
	}
}
