package netup

import (
	"net/netip"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

func TestLeaseTimesFor(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		name              string
		lease, t1, t2     time.Duration
		wantT1, wantT2    time.Duration
		wantExpiryOfLease bool
	}{
		{"defaults", 2 * time.Minute, 0, 0, time.Minute, 105 * time.Second, true},
		{"the server's", time.Hour, 10 * time.Minute, 20 * time.Minute, 10 * time.Minute, 20 * time.Minute, true},
		{"T2 past the expiry", time.Hour, 10 * time.Minute, 2 * time.Hour, 10 * time.Minute, 52*time.Minute + 30*time.Second, true},
		{"T1 past T2", time.Hour, 50 * time.Minute, 40 * time.Minute, 30 * time.Minute, 40 * time.Minute, true},
		{"T2 short, T1 default after it", time.Hour, 0, 20 * time.Minute, 20 * time.Minute, 20 * time.Minute, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lt := leaseTimesFor(at, tc.lease, tc.t1, tc.t2)
			if got := lt.T1.Sub(at); got != tc.wantT1 {
				t.Errorf("T1 = %s, want %s", got, tc.wantT1)
			}
			if got := lt.T2.Sub(at); got != tc.wantT2 {
				t.Errorf("T2 = %s, want %s", got, tc.wantT2)
			}
			if got := lt.Expiry.Sub(at); got != tc.lease {
				t.Errorf("expiry = %s, want %s", got, tc.lease)
			}
			if lt.T1.After(lt.T2) || lt.T2.After(lt.Expiry) {
				t.Errorf("times out of order: %+v", lt)
			}
		})
	}
}

func TestTimesOfACK(t *testing.T) {
	at := time.Now()
	ack, err := dhcpv4.New(dhcpv4.WithMessageType(dhcpv4.MessageTypeAck), dhcpv4.WithLeaseTime(120))
	if err != nil {
		t.Fatal(err)
	}
	lt := timesOf(ack, at)
	if lt.T1.Sub(at) != time.Minute || lt.Expiry.Sub(at) != 2*time.Minute {
		t.Errorf("2-minute lease: %+v", lt)
	}
	for name, mod := range map[string]dhcpv4.Modifier{
		"no lease time": func(*dhcpv4.DHCPv4) {},
		"infinite":      dhcpv4.WithLeaseTime(0xffffffff),
	} {
		ack, err := dhcpv4.New(dhcpv4.WithMessageType(dhcpv4.MessageTypeAck), mod)
		if err != nil {
			t.Fatal(err)
		}
		if lt := timesOf(ack, at); !lt.Expiry.IsZero() {
			t.Errorf("%s: expires %s, want never", name, lt.Expiry)
		}
		if p, _ := nextStep(timesOf(ack, at), at.Add(1000*time.Hour)); p != phaseForever {
			t.Errorf("%s: phase %s, want forever", name, p)
		}
	}
}

// A 2-minute lease, as the vmtest's dnsmasq gives: T1 at 60s, T2 at
// 105s, expiry at 120s.
func TestNextStep(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	lt := leaseTimesFor(at, 2*time.Minute, 0, 0)
	s := func(d time.Duration) time.Time { return at.Add(d) }
	for _, tc := range []struct {
		now   time.Duration
		phase leasePhase
		next  time.Duration // from at; -1: none
	}{
		{0, phaseBound, 60 * time.Second},
		{59 * time.Second, phaseBound, 60 * time.Second},
		// At T1: the first request; the next one halfway to T2.
		{60 * time.Second, phaseRenewing, 82*time.Second + 500*time.Millisecond},
		// Less than 2*minRetry to T2: minRetry.
		{90 * time.Second, phaseRenewing, 100 * time.Second},
		// Less than minRetry to T2: T2, where rebinding starts.
		{100 * time.Second, phaseRenewing, 105 * time.Second},
		{105 * time.Second, phaseRebinding, 115 * time.Second},
		{115 * time.Second, phaseRebinding, 120 * time.Second},
		{120 * time.Second, phaseExpired, -1},
		{time.Hour, phaseExpired, -1},
	} {
		p, next := nextStep(lt, s(tc.now))
		want := time.Time{}
		if tc.next >= 0 {
			want = s(tc.next)
		}
		if p != tc.phase || !next.Equal(want) {
			t.Errorf("at %s: %s, next %s; want %s, next %s", tc.now, p, next.Sub(at), tc.phase, want.Sub(at))
		}
	}
}

// Walking the steps of a lease that is never renewed ends at its expiry,
// in a bounded number of requests, each phase's within its bounds.
func TestNextStepWalk(t *testing.T) {
	at := time.Now()
	for _, lease := range []time.Duration{time.Minute, 2 * time.Minute, time.Hour, 24 * time.Hour} {
		lt := leaseTimesFor(at, lease, 0, 0)
		now := at
		renews, rebinds := 0, 0
		for n := 0; ; n++ {
			if n > 100 {
				t.Fatalf("lease %s: no expiry after 100 steps", lease)
			}
			p, next := nextStep(lt, now)
			switch p {
			case phaseRenewing:
				renews++
				if next.After(lt.T2) {
					t.Errorf("lease %s: a renewal retry at %s, after T2", lease, next.Sub(at))
				}
			case phaseRebinding:
				rebinds++
				if next.After(lt.Expiry) {
					t.Errorf("lease %s: a rebind retry at %s, after the expiry", lease, next.Sub(at))
				}
			}
			if p == phaseExpired {
				break
			}
			if !next.After(now) {
				t.Fatalf("lease %s: step at %s does not advance (%s)", lease, now.Sub(at), p)
			}
			now = next
		}
		if renews == 0 || rebinds == 0 {
			t.Errorf("lease %s: %d renewals, %d rebinds; want some of each", lease, renews, rebinds)
		}
	}
}

func TestSwapNameservers(t *testing.T) {
	a := func(s ...string) []netip.Addr {
		var out []netip.Addr
		for _, x := range s {
			out = append(out, netip.MustParseAddr(x))
		}
		return out
	}
	for _, tc := range []struct {
		name, in, want string
		old, new       []netip.Addr
	}{
		{"the lease's only",
			"# network\nnameserver 10.0.3.1\nsearch lan\n",
			"# network\nnameserver 10.0.3.2\nsearch lan\n",
			a("10.0.3.1"), a("10.0.3.2")},
		{"behind the tunnel's",
			"# wg0: DNS from wg0.conf, ahead of the network's\nnameserver 10.99.0.1\nnameserver 10.0.3.1\nnameserver 10.0.3.9\n",
			"# wg0: DNS from wg0.conf, ahead of the network's\nnameserver 10.99.0.1\nnameserver 192.168.1.1\n",
			a("10.0.3.1", "10.0.3.9"), a("192.168.1.1")},
		{"gone from the file",
			"# x\nnameserver 10.99.0.1\n",
			"nameserver 10.0.3.2\n# x\nnameserver 10.99.0.1\n",
			a("10.0.3.1"), a("10.0.3.2")},
	} {
		if got := swapNameservers(tc.in, tc.old, tc.new); got != tc.want {
			t.Errorf("%s:\n%s\nwant\n%s", tc.name, got, tc.want)
		}
	}
}
