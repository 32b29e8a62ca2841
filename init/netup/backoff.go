package netup

import "time"

const (
	firstBackoff = 250 * time.Millisecond
	maxBackoff   = 4 * time.Second
)

// backoff is how long DHCP attempt n (from 0) waits for an answer before
// the next attempt starts: 250ms, 500ms, 1s, 2s, then 4s each. A fast
// server (QEMU's answers in about 50ms) is served by the first; a slow
// one, or a switch port still in spanning-tree listening, by the later.
func backoff(n int) time.Duration {
	d := firstBackoff
	for i := 0; i < n && d < maxBackoff; i++ {
		d *= 2
	}
	return min(d, maxBackoff)
}
