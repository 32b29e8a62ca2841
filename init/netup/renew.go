package netup

import (
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// This file is the renewal timing of RFC 2131 section 4.4.5, as pure
// functions of a lease's times and the clock: keeper.go acts on them.

// leaseTimes are when a lease was obtained and when it is to be renewed
// (T1, a unicast request to its server), rebound (T2, a broadcast
// request to any server) and when it ends. A zero Expiry is a lease that
// never ends (no lease time, or the infinite 0xffffffff).
type leaseTimes struct {
	Obtained, T1, T2, Expiry time.Time
}

// infiniteLease is option 51's "infinity" (RFC 2131 section 3.3).
const infiniteLease = 0xffffffff * time.Second

// timesOf reads the lease time and options 58 and 59 of ack, obtained
// at obtained. A missing or inconsistent T1 or T2 gets RFC 2131's
// default, half and seven eighths of the lease time.
func timesOf(ack *dhcpv4.DHCPv4, obtained time.Time) leaseTimes {
	lt := leaseTimes{Obtained: obtained}
	d := ack.IPAddressLeaseTime(0)
	if d <= 0 || d >= infiniteLease {
		return lt
	}
	return leaseTimesFor(obtained, d, ack.IPAddressRenewalTime(0), ack.IPAddressRebindingTime(0))
}

// leaseTimesFor is timesOf on the three durations.
func leaseTimesFor(obtained time.Time, lease, t1, t2 time.Duration) leaseTimes {
	if t2 <= 0 || t2 >= lease {
		t2 = lease * 7 / 8
	}
	if t1 <= 0 || t1 >= t2 {
		t1 = min(lease/2, t2)
	}
	return leaseTimes{Obtained: obtained, T1: obtained.Add(t1), T2: obtained.Add(t2), Expiry: obtained.Add(lease)}
}

// leasePhase is where a lease stands at a moment.
type leasePhase int

const (
	phaseForever   leasePhase = iota // an infinite lease: nothing to do
	phaseBound                       // before T1: wait
	phaseRenewing                    // T1 to T2: ask the server that gave it, by unicast
	phaseRebinding                   // T2 to the expiry: ask any server, by broadcast
	phaseExpired                     // the address must go; discover a new lease
)

func (p leasePhase) String() string {
	return [...]string{"forever", "bound", "renewing", "rebinding", "expired"}[p]
}

// minRetry is the least time between two requests of one phase. RFC 2131
// says 60 seconds; leases of a few minutes (a test's, a captive network's)
// would get one try per phase with that, so the floor is lower.
const minRetry = 10 * time.Second

// nextStep says what the lease needs at now: its phase, and when to look
// again. In the bound phase that is T1. While renewing or rebinding it is
// when the next request goes out if this one gets no answer: half the time
// left to the phase's end, at least minRetry, never past the phase's end
// (RFC 2131 section 4.4.5). Expired and forever leases have no next time.
func nextStep(lt leaseTimes, now time.Time) (leasePhase, time.Time) {
	if lt.Expiry.IsZero() {
		return phaseForever, time.Time{}
	}
	retry := func(end time.Time) time.Time {
		wait := max(end.Sub(now)/2, minRetry)
		return minTime(now.Add(wait), end)
	}
	switch {
	case now.Before(lt.T1):
		return phaseBound, lt.T1
	case now.Before(lt.T2):
		return phaseRenewing, retry(lt.T2)
	case now.Before(lt.Expiry):
		return phaseRebinding, retry(lt.Expiry)
	}
	return phaseExpired, time.Time{}
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
