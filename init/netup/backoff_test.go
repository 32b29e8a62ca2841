package netup

import (
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	ms := time.Millisecond
	want := []time.Duration{250 * ms, 500 * ms, time.Second, 2 * time.Second, 4 * time.Second, 4 * time.Second, 4 * time.Second}
	for n, w := range want {
		if got := backoff(n); got != w {
			t.Errorf("backoff(%d) = %v, want %v", n, got, w)
		}
	}
	if got := backoff(1000); got != maxBackoff {
		t.Errorf("backoff(1000) = %v, want the cap %v", got, maxBackoff)
	}
}

// The default homestaker.timeout.net of 30s is 11 attempts, so that
// the failure's request count means something to the operator.
func TestBackoffAttemptsIn30s(t *testing.T) {
	var total time.Duration
	n := 0
	for total < 30*time.Second {
		total += backoff(n)
		n++
	}
	if n != 11 {
		t.Errorf("%d attempts in 30s, want 11", n)
	}
}
