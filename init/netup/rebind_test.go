package netup

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"
)

// serveOnce answers the first DHCP request on a loopback socket the way
// answer says, and hands the request to got.
func serveOnce(t *testing.T, answer func(req *dhcpv4.DHCPv4) *dhcpv4.DHCPv4, got chan<- *dhcpv4.DHCPv4) *net.UDPAddr {
	t.Helper()
	srv, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	go func() {
		b := make([]byte, 1500)
		n, from, err := srv.ReadFrom(b)
		if err != nil {
			return
		}
		req, err := dhcpv4.FromBytes(b[:n])
		if err != nil {
			return
		}
		got <- req
		if reply := answer(req); reply != nil {
			srv.WriteTo(reply.ToBytes(), from)
		}
	}()
	return srv.LocalAddr().(*net.UDPAddr)
}

func heldLease(t *testing.T, server string) *nclient4.Lease {
	t.Helper()
	ack, err := dhcpv4.New(
		dhcpv4.WithMessageType(dhcpv4.MessageTypeAck),
		dhcpv4.WithHwAddr(net.HardwareAddr{2, 0, 0, 0, 0, 1}),
		dhcpv4.WithYourIP(net.IPv4(10, 0, 3, 50)),
		dhcpv4.WithServerIP(net.ParseIP(server)),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.ParseIP(server))),
		dhcpv4.WithOption(dhcpv4.OptIPAddressLeaseTime(2*time.Minute)),
	)
	if err != nil {
		t.Fatal(err)
	}
	ack.OpCode = dhcpv4.OpcodeBootReply // as the server sent it
	return &nclient4.Lease{Offer: ack, ACK: ack, CreationTime: time.Now()}
}

func loopbackClient(t *testing.T) *nclient4.Client {
	t.Helper()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c, err := nclient4.NewWithConn(conn, net.HardwareAddr{2, 0, 0, 0, 0, 1}, nclient4.WithRetry(1), nclient4.WithTimeout(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// ackFrom acknowledges req as the server at addr would.
func ackFrom(addr string, typ dhcpv4.MessageType) func(*dhcpv4.DHCPv4) *dhcpv4.DHCPv4 {
	return func(req *dhcpv4.DHCPv4) *dhcpv4.DHCPv4 {
		reply, err := dhcpv4.NewReplyFromRequest(req,
			dhcpv4.WithMessageType(typ),
			dhcpv4.WithYourIP(req.ClientIPAddr),
			dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.ParseIP(addr))),
			dhcpv4.WithOption(dhcpv4.OptIPAddressLeaseTime(2*time.Minute)),
			dhcpv4.WithOption(dhcpv4.OptSubnetMask(net.CIDRMask(24, 32))))
		if err != nil {
			panic(err)
		}
		return reply
	}
}

// At T2 the lease's own server is gone and another one on the link
// acknowledges: the lease is kept, and the next renewal goes to the new
// server. nclient4's Renew, used for rebinding before, dropped that answer
// (not from the first server) and the address was lost at the expiry.
func TestRebindAnotherServerAnswers(t *testing.T) {
	reqs := make(chan *dhcpv4.DHCPv4, 1)
	to := serveOnce(t, ackFrom("10.0.3.3", dhcpv4.MessageTypeAck), reqs)
	held := heldLease(t, "10.0.3.1")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	got, err := rebind(ctx, loopbackClient(t), to, held)
	if err != nil {
		t.Fatalf("rebind: %v", err)
	}
	req := <-reqs
	if req.MessageType() != dhcpv4.MessageTypeRequest || !req.ClientIPAddr.Equal(net.IPv4(10, 0, 3, 50)) {
		t.Errorf("request: type %s ciaddr %s, want a REQUEST for 10.0.3.50", req.MessageType(), req.ClientIPAddr)
	}
	if req.ServerIdentifier() != nil {
		t.Errorf("the rebinding request names server %s; RFC 2131 4.4.5 sends none", req.ServerIdentifier())
	}
	if s := got.ACK.ServerIdentifier(); !s.Equal(net.ParseIP("10.0.3.3")) {
		t.Errorf("ACK from %s, want 10.0.3.3", s)
	}
	if s := got.Offer.ServerIdentifier(); !s.Equal(net.ParseIP("10.0.3.3")) {
		t.Errorf("the lease's Offer names %s; the next renewal would ignore the new server's answer", s)
	}
	if s := serverOf(got.ACK, netip.Addr{}); s != netip.MustParseAddr("10.0.3.3") {
		t.Errorf("serverOf = %s, want 10.0.3.3 (the console line names it)", s)
	}
}

// A refusal while rebinding is a NAK error, as while renewing: the keeper
// then drops the address and asks anew.
func TestRebindRefused(t *testing.T) {
	reqs := make(chan *dhcpv4.DHCPv4, 1)
	to := serveOnce(t, ackFrom("10.0.3.3", dhcpv4.MessageTypeNak), reqs)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := rebind(ctx, loopbackClient(t), to, heldLease(t, "10.0.3.1"))
	var nak *nclient4.ErrNak
	if !errors.As(err, &nak) {
		t.Fatalf("rebind refused: %v, want an ErrNak", err)
	}
}
