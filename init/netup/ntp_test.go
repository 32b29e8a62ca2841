package netup

import (
	"context"
	"encoding/binary"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// fakeNTP serves SNTP on loopback. answer gets each request and returns
// the packets to send back.
func fakeNTP(t *testing.T, answer func(req []byte) [][]byte) string {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 512)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			for _, p := range answer(append([]byte(nil), buf[:n]...)) {
				pc.WriteTo(p, from)
			}
		}
	}()
	return pc.LocalAddr().String()
}

// serverAhead answers as a server whose clock is ahead of ours by ahead.
func serverAhead(ahead time.Duration, edit func(b []byte)) func([]byte) [][]byte {
	return func(req []byte) [][]byte {
		if len(req) != 48 || req[0] != 0x23 {
			return nil
		}
		sent := ntpTime(binary.BigEndian.Uint64(req[40:]))
		now := time.Now().Add(ahead)
		b := answer(sent, edit)
		binary.BigEndian.PutUint64(b[32:], uint64(toNTPTime(now)))
		binary.BigEndian.PutUint64(b[40:], uint64(toNTPTime(now)))
		return [][]byte{b}
	}
}

func TestQuerySNTP(t *testing.T) {
	addr := fakeNTP(t, serverAhead(5*time.Second, nil))
	res, err := querySNTP(context.Background(), addr, nil, "ip4")
	if err != nil {
		t.Fatal(err)
	}
	if d := res.Offset - 5*time.Second; d < -50*time.Millisecond || d > 50*time.Millisecond {
		t.Errorf("offset %v, want about 5s", res.Offset)
	}
	if res.Delay < 0 || res.Delay > time.Second || res.Server != addr || res.Address != "127.0.0.1" {
		t.Errorf("result %+v", res)
	}
}

func TestQuerySNTPIgnoresStrayAnswers(t *testing.T) {
	good := serverAhead(-2*time.Second, nil)
	addr := fakeNTP(t, func(req []byte) [][]byte {
		g := good(req)
		if g == nil {
			return nil
		}
		stray := append([]byte(nil), g[0]...)
		stray[31]++ // originate of another request
		return [][]byte{stray, g[0]}
	})
	res, err := querySNTP(context.Background(), addr, nil, "ip4")
	if err != nil {
		t.Fatal(err)
	}
	if d := res.Offset + 2*time.Second; d < -50*time.Millisecond || d > 50*time.Millisecond {
		t.Errorf("offset %v, want about -2s", res.Offset)
	}
}

func TestQuerySNTPFailures(t *testing.T) {
	kod := fakeNTP(t, serverAhead(0, func(b []byte) { b[1] = 0; copy(b[12:], "RATE") }))
	if _, err := querySNTP(context.Background(), kod, nil, "ip4"); err == nil || !strings.Contains(err.Error(), `kiss-o'-death "RATE"`) {
		t.Errorf("kiss-o'-death: %v", err)
	}
	silent := fakeNTP(t, func([]byte) [][]byte { return nil })
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := querySNTP(ctx, silent, nil, "ip4")
	if err == nil || !strings.Contains(err.Error(), "no answer from 127.0.0.1 within 2s") {
		t.Errorf("silent server: %v", err)
	}
	if time.Since(start) > time.Second {
		t.Errorf("a silent server took %v; ctx must bound it", time.Since(start))
	}
	if _, err := querySNTP(context.Background(), "pool.ntp.org", nil, "ip4"); err == nil || !strings.Contains(err.Error(), "no DNS server to resolve pool.ntp.org") {
		t.Errorf("without DNS: %v", err)
	}
}

func TestCheckClockTriesTheNext(t *testing.T) {
	kod := fakeNTP(t, serverAhead(0, func(b []byte) { b[1] = 0; copy(b[12:], "DENY") }))
	good := fakeNTP(t, serverAhead(300*time.Millisecond, nil))
	res, err := checkClock(context.Background(), []string{kod, good}, []netip.Addr{netip.MustParseAddr("127.0.0.1")}, "ip4", false)
	if err != nil {
		t.Fatal(err)
	}
	if res.Server != good || res.Set || len(res.Failures) != 1 || !strings.Contains(res.Failures[0], "DENY") {
		t.Errorf("result %+v", res)
	}
	// Both fail: one error naming both.
	_, err = checkClock(context.Background(), []string{kod, kod}, nil, "ip4", false)
	if err == nil || strings.Count(err.Error(), "DENY") != 2 {
		t.Errorf("error %v", err)
	}
	// The stage's time is up: nothing is tried.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = checkClock(ctx, []string{good}, nil, "ip4", false)
	if err == nil || !strings.Contains(err.Error(), "not tried") {
		t.Errorf("error %v", err)
	}
}

// One unauthenticated answer must not move the clock by years (the server
// may come from the LAN's DHCP): a step needs a second server that agrees,
// or a clock that is clearly wrong.
func TestCheckClockNeedsAgreement(t *testing.T) {
	tenYears := 10 * 365 * 24 * time.Hour
	liar := fakeNTP(t, serverAhead(tenYears, nil))
	liar2 := fakeNTP(t, serverAhead(tenYears+300*time.Millisecond, nil))
	honest := fakeNTP(t, serverAhead(20*time.Millisecond, nil))
	for _, tc := range []struct {
		name       string
		servers    []string
		step       bool
		notStepped string
	}{
		{"one server, +10 years", []string{liar}, false, "only " + liar + " says the clock is off by"},
		{"a second server disagrees", []string{liar, honest}, false, "does not agree"},
		{"two servers agree", []string{liar, liar2}, true, ""},
		{"small offset, one server", []string{honest}, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := checkClock(context.Background(), tc.servers, nil, "ip4", false)
			if err != nil {
				t.Fatal(err)
			}
			if step := res.NotStepped == "" && (res.Offset > stepThreshold || res.Offset < -stepThreshold); step != tc.step {
				t.Errorf("would step = %v, want %v (%+v)", step, tc.step, res)
			}
			if !strings.Contains(res.NotStepped, tc.notStepped) || tc.notStepped == "" && res.NotStepped != "" {
				t.Errorf("not stepped = %q, want %q", res.NotStepped, tc.notStepped)
			}
			if tc.step && len(res.ConfirmedBy) != 1 {
				t.Errorf("confirmed by %v, want the second server", res.ConfirmedBy)
			}
		})
	}
}

func TestClockVerdict(t *testing.T) {
	floor := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	now := floor.Add(24 * time.Hour)
	ahead := &ntpResult{Server: "a", Offset: 10 * 365 * 24 * time.Hour}
	for _, tc := range []struct {
		name   string
		first  *ntpResult
		others []*ntpResult
		now    time.Time
		step   bool
		why    string
	}{
		{"within a second", &ntpResult{Server: "a", Offset: 900 * time.Millisecond}, nil, now, false, ""},
		{"alone", ahead, nil, now, false, "only a says"},
		{"confirmed", ahead, []*ntpResult{{Server: "b", Offset: ahead.Offset - time.Second}}, now, true, ""},
		{"contradicted", ahead, []*ntpResult{{Server: "b", Offset: 0}}, now, false, "b (+0.0s) does not agree"},
		// A dead RTC battery: the clock reads 2000; one answer after the
		// build is enough.
		{"clock before the build", &ntpResult{Server: "a", Offset: floor.Sub(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)) + time.Hour}, nil, time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), true, ""},
		{"answer before the build", &ntpResult{Server: "a", Offset: time.Hour}, nil, time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), false, "earlier than this init's build"},
	} {
		v := clockVerdict(tc.first, tc.others, tc.now, floor)
		if v.step != tc.step || !strings.Contains(v.notStepped, tc.why) || tc.why == "" && v.notStepped != "" {
			t.Errorf("%s: %+v, want step %v, why %q", tc.name, v, tc.step, tc.why)
		}
	}
}
