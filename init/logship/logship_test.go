package logship

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/homestaker/homestaker-boot/init/config"
	"github.com/homestaker/homestaker-boot/init/console"
)

// rfc5424 is the header of RFC 5424 section 6 as this package writes it.
var rfc5424 = regexp.MustCompile(`^<(\d{1,3})>1 (\S+) (\S+) (\S+) (\S+) - (-|\[[^\]]*\])( .*)?$`)

func TestFormat(t *testing.T) {
	at := time.Date(2026, 12, 2, 17, 0, 1, 234567000, time.FixedZone("x", 3600))
	l := console.Line{Stage: "network", Status: console.OK, Tagged: true, Text: "[  OK  ] network: eth0 10.0.2.15/24 by DHCP"}
	got := string(Format(FromConsole(l, at), "node1", maxUDP))
	want := `<29>1 2026-12-02T16:00:01.234567Z node1 homestaker-init 1 - [homestaker@32473 stage="network" result="ok"] [  OK  ] network: eth0 10.0.2.15/24 by DHCP`
	if got != want {
		t.Errorf("Format =\n%s\nwant\n%s", got, want)
	}
	// No stage, no host name, a kernel line with a URL holding a token.
	m := Message{Time: at, Severity: 6, App: AppKernel, Text: "Command line: homestaker.next=https://u:pw@h.example/x?token=abc"}
	got = string(Format(m, "(bad host)", maxUDP))
	if !strings.HasPrefix(got, "<6>1 2026-12-02T16:00:01.234567Z - kernel - - - Command line:") || strings.Contains(got, "pw@") || strings.Contains(got, "abc") {
		t.Errorf("kernel line = %q", got)
	}
	// Structured data values escape '"', '\' and ']'.
	got = string(Format(Message{Stage: `a"b\c]d`}, "h", maxUDP))
	if !strings.Contains(got, `[homestaker@32473 stage="a\"b\\c\]d"]`) || !strings.HasPrefix(got, "<0>1 - h - - - ") {
		t.Errorf("escaped = %q", got)
	}
	// Control characters are escaped as on the console; a long text is cut
	// on a character boundary.
	got = string(Format(Message{Text: "a\x1b[2J" + strings.Repeat("é", 3000)}, "h", maxUDP))
	if len(got) > maxUDP || strings.Contains(got, "\x1b") || !strings.HasSuffix(got, "é") {
		t.Errorf("long line: %d bytes, suffix %q", len(got), got[len(got)-4:])
	}
	if !rfc5424.MatchString(got) {
		t.Errorf("not RFC 5424: %.80q", got)
	}
}

func TestRingDropsOldest(t *testing.T) {
	r := newRing(3)
	for i := 0; i < 5; i++ {
		r.push(Message{Text: strconv.Itoa(i)})
	}
	if r.n != 3 || r.at(0).Text != "2" || r.at(2).Text != "4" || r.dropped != 2 || r.first != 2 {
		t.Fatalf("ring: n %d, first %d, dropped %d, oldest %q", r.n, r.first, r.dropped, r.at(0).Text)
	}
	end := r.first + 3
	r.push(Message{Text: "5"}) // drops 2 while "2".."4" are being sent
	r.popUntil(end)
	if r.n != 1 || r.at(0).Text != "5" {
		t.Errorf("after popUntil: n %d, oldest %q", r.n, r.at(0).Text)
	}
}

func TestParseKmsg(t *testing.T) {
	boot := time.Unix(1000, 0)
	m, ok := parseKmsg("6,339,5140900,-,caller=T1;virtio_net virtio0 eth0: renamed\n SUBSYSTEM=virtio\n DEVICE=n1\n", boot)
	if !ok || m.Severity != 6 || m.App != AppKernel || m.Text != "virtio_net virtio0 eth0: renamed" || !m.Time.Equal(time.Unix(1005, 140900000)) {
		t.Errorf("parseKmsg = %+v %v", m, ok)
	}
	// The console's own copy (facility user) is skipped.
	if _, ok := parseKmsg("15,340,5140901,-;homestaker: [  OK  ] early: done\n", boot); ok {
		t.Error("a user-space record was kept")
	}
	for _, bad := range []string{"", "no semicolon", "x,1,2,-;t", "6,1;t"} {
		if _, ok := parseKmsg(bad, boot); ok {
			t.Errorf("parseKmsg(%q) accepted", bad)
		}
	}
}

func target(t *testing.T, network, addr string) config.LogTarget {
	t.Helper()
	host, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	return config.LogTarget{Network: network, Host: host, Port: p}
}

// Lines added before the route exists arrive once Release says so, over
// real UDP on loopback, one message per datagram.
func TestUDPAfterRelease(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	s := New(10)
	c := console.New(io.Discard, nil)
	c.Forward(s.Console)
	c.Status(console.OK, "early", "banner line")
	s.Start(target(t, "udp", pc.LocalAddr().String()), Options{Hostname: func() string { return "n1" }})
	pc.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	buf := make([]byte, 4096)
	if _, _, err := pc.ReadFrom(buf); err == nil {
		t.Fatal("a datagram before Release")
	}
	c.Status(console.Warn, "network", "second")
	s.Release()
	for _, want := range []string{`stage="early" result="ok"] [  OK  ] early: banner line`, `stage="network" result="warn"] [ WARN ] network: second`} {
		pc.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			t.Fatalf("waiting for %q: %v", want, err)
		}
		if got := string(buf[:n]); !strings.HasSuffix(got, want) || !strings.Contains(got, " n1 homestaker-init 1 - ") || !rfc5424.MatchString(got) {
			t.Errorf("datagram %q, want it to end in %q", got, want)
		}
	}
	if err := s.Flush(2 * time.Second); err != nil {
		t.Errorf("Flush: %v", err)
	}
}

// TCP with octet counting; lines that gave way are announced; Flush
// returns once the collector's end has acknowledged everything.
func TestTCPOctetCountingAndDrops(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan string, 100)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		r := bufio.NewReader(c)
		for {
			var n int
			if _, err := fmt.Fscanf(r, "%d ", &n); err != nil {
				close(got)
				return
			}
			b := make([]byte, n)
			if _, err := io.ReadFull(r, b); err != nil {
				close(got)
				return
			}
			got <- string(b)
		}
	}()
	s := New(5)
	for i := 0; i < 8; i++ {
		s.Add(Message{App: AppInit, Text: fmt.Sprintf("line %d", i)})
	}
	s.Start(target(t, "tcp", ln.Addr().String()), Options{})
	s.Release()
	if err := s.Flush(5 * time.Second); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	var lines []string
	for len(lines) < 6 {
		select {
		case l := <-got:
			lines = append(lines, l)
		case <-time.After(5 * time.Second):
			t.Fatalf("got %q", lines)
		}
	}
	if !strings.Contains(lines[0], "3 lines were dropped before this one (3 of the init's, 0 of the kernel's): the buffer holds 5 and 10") || !strings.HasSuffix(lines[1], " line 3") || !strings.HasSuffix(lines[5], " line 7") {
		t.Errorf("lines:\n%s", strings.Join(lines, "\n"))
	}
}

// A dead collector costs nothing: Add never blocks, and Flush gives up
// at the first failed attempt rather than its deadline.
func TestDeadCollector(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nobody listens: connection refused
	s := New(100)
	s.Start(target(t, "tcp", addr), Options{})
	s.Release()
	began := time.Now()
	for i := 0; i < 100000; i++ {
		s.Add(Message{Text: "x"})
	}
	if d := time.Since(began); d > 2*time.Second {
		t.Errorf("100000 Adds took %s", d)
	}
	began = time.Now()
	err = s.Flush(20 * time.Second)
	if err == nil || !strings.Contains(err.Error(), "not reachable") {
		t.Errorf("Flush = %v, want not reachable", err)
	}
	if d := time.Since(began); d > 10*time.Second {
		t.Errorf("Flush took %s", d)
	}
}

// A kernel that logs more than its ring holds pushes out its own oldest
// lines, never the init's; both go out in the order they were added.
func TestQueueKernelFloodKeepsInitLines(t *testing.T) {
	q := newQueue(2, 3)
	q.push(Message{App: AppInit, Text: "banner"})
	for i := 0; i < 5; i++ {
		q.push(Message{App: AppKernel, Text: fmt.Sprintf("k%d", i)})
	}
	q.push(Message{App: AppInit, Text: "early"})
	q.push(Message{App: AppKernel, Text: "k5"})
	got, mk := q.peek(10)
	var texts []string
	for _, m := range got {
		texts = append(texts, m.Text)
	}
	if want := "banner k3 k4 early k5"; strings.Join(texts, " ") != want {
		t.Errorf("peek = %q, want %q", strings.Join(texts, " "), want)
	}
	if q.dropped() != 3 || mk.dropped != [2]int{0, 3} {
		t.Errorf("dropped %d %v", q.dropped(), mk.dropped)
	}
	q.popSent(mk, 3) // banner k3 k4 went out
	q.forgetDropped(mk)
	got, _ = q.peek(10)
	if len(got) != 2 || got[0].Text != "early" || got[1].Text != "k5" || q.dropped() != 0 {
		t.Errorf("after popSent: %+v, dropped %d", got, q.dropped())
	}
}

// A collector by host name is resolved when the shipper first connects
// (after Release, once the network stage wrote resolv.conf), and a
// failed lookup is tried again.
func TestHostNameResolvedAtConnect(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	port := pc.LocalAddr().(*net.UDPAddr).Port
	var mu sync.Mutex
	asked := 0
	resolve := func(ctx context.Context, host string) ([]netip.Addr, error) {
		mu.Lock()
		defer mu.Unlock()
		asked++
		if host != "collector.test" {
			return nil, fmt.Errorf("asked for %q", host)
		}
		if asked == 1 {
			return nil, errors.New("no DNS server yet")
		}
		return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
	}
	s := New(10)
	s.Add(Message{App: AppInit, Text: "hello"})
	s.Start(config.LogTarget{Network: "udp", Host: "collector.test", Port: port}, Options{Resolve: resolve, FirstWait: 10 * time.Millisecond})
	s.Release()
	pc.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 2048)
	n, _, err := pc.ReadFrom(buf)
	if err != nil || !strings.HasSuffix(string(buf[:n]), " hello") {
		t.Fatalf("got %q, %v", buf[:n], err)
	}
	mu.Lock()
	defer mu.Unlock()
	if asked != 2 {
		t.Errorf("resolved %d times, want 2 (a failure, then the address)", asked)
	}
}
