package netup

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"
)

// dhcp asks for a lease on the link until one is applied or ctx ends.
// Each attempt is a discover and, on an offer, a request, given
// backoff(n) to finish; the next attempt starts when that time is up.
func (r *run) dhcp(ctx context.Context, l *linkRun) {
	var c *nclient4.Client
	defer func() {
		if c != nil {
			c.Close()
		}
	}()
	mods := dhcpMods(l.plan.IP.Hostname)
	for n := 0; ctx.Err() == nil; n++ {
		wait := backoff(n)
		begin := time.Now()
		got, err := attempt(ctx, wait, &c, l, mods)
		if err == nil {
			ls, err := leaseFromACK(got.ACK)
			if err == nil {
				if err := r.applyLease(l, ls, got); err != nil {
					l.applyErr = err.Error()
				}
				return
			}
			l.lastErr = "an unusable lease: " + err.Error()
		}
		t := time.NewTimer(time.Until(begin.Add(wait)))
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
}

// dhcpMods are what every request of the link carries: the options
// asked for and ip='s host name.
func dhcpMods(hostname string) []dhcpv4.Modifier {
	mods := []dhcpv4.Modifier{dhcpv4.WithRequestedOptions(leaseOptions...)}
	if hostname != "" {
		mods = append(mods, dhcpv4.WithOption(dhcpv4.OptHostName(hostname)))
	}
	return mods
}

// attempt runs one discover/request exchange within wait, opening the
// client on first use, and counts it on the link.
func attempt(ctx context.Context, wait time.Duration, c **nclient4.Client, l *linkRun, mods []dhcpv4.Modifier) (*nclient4.Lease, error) {
	if *c == nil {
		// One retry: the attempt's context, not the client, bounds it.
		cl, err := nclient4.New(l.plan.Name, nclient4.WithRetry(1), nclient4.WithTimeout(2*maxBackoff))
		if err != nil {
			l.lastErr = "opening a DHCP socket: " + err.Error()
			return nil, err
		}
		*c = cl
	}
	actx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	l.requests++
	offer, err := (*c).DiscoverOffer(actx, mods...)
	if err != nil {
		if !noAnswer(err) {
			l.lastErr = err.Error()
		}
		return nil, err
	}
	l.offers++
	got, err := (*c).RequestFromOffer(actx, offer, mods...)
	var nak *nclient4.ErrNak
	switch {
	case err == nil:
	case errors.As(err, &nak):
		l.lastErr = fmt.Sprintf("%s refused to lease %s (NAK)", offer.ServerIdentifier(), offer.YourIPAddr)
		if m := nak.Nak.Message(); m != "" {
			l.lastErr += ": " + sanitize(m)
		}
	case noAnswer(err):
		l.lastErr = fmt.Sprintf("%s offered %s, then did not acknowledge the request", offer.ServerIdentifier(), offer.YourIPAddr)
	default:
		l.lastErr = err.Error()
	}
	return got, err
}

func noAnswer(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || errors.Is(err, nclient4.ErrNoResponse)
}

// sanitize keeps a server's text printable for the console.
func sanitize(s string) string {
	b := []rune{}
	for _, r := range s {
		if r >= ' ' && r != 0x7f {
			b = append(b, r)
		}
		if len(b) == 100 {
			break
		}
	}
	return string(b)
}
