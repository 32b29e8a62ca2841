package logship

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/homestaker/homestaker-boot/init/config"
	"github.com/homestaker/homestaker-boot/init/console"
	"github.com/homestaker/homestaker-boot/init/panics"
)

// DefaultCapacity is how many of the init's lines wait for the collector:
// a boot's, and a stopped boot's for a good while; twice as many of the
// kernel's (a big server's boot log). Past that the oldest give way.
const DefaultCapacity = 1000

// Options say how the shipper reaches its collector; the zero value is
// the real network.
type Options struct {
	// Hostname is the HOSTNAME field, asked for at each send, so that a
	// name DHCP gave later goes on every message from then on; nil reads
	// the kernel's.
	Hostname func() string
	// Resolve looks a collector host name up; nil is net.DefaultResolver
	// (the resolv.conf the network stage wrote).
	Resolve func(ctx context.Context, host string) ([]netip.Addr, error)
	// Dial connects; nil is net.Dialer.
	Dial func(ctx context.Context, network, address string) (net.Conn, error)
	// Printf tells the console about the connection (up, lost): one line
	// per change, never per attempt. nil says nothing.
	Printf func(format string, args ...any)
	// FirstWait and MaxWait bound the backoff between attempts; zero is
	// 250 ms and 5 s.
	FirstWait, MaxWait time.Duration
}

// Timeouts of one attempt.
const (
	dialTimeout  = 3 * time.Second
	writeTimeout = 5 * time.Second
	batchSize    = 64
)

// Shipper queues lines and sends them to one collector.
type Shipper struct {
	mu       sync.Mutex
	q        *queue
	off      bool // Discard: nothing is kept
	started  bool
	released bool
	target   config.LogTarget
	o        Options
	conn     net.Conn  // the connection the sender writes to; nil when none
	writing  bool      // the sender holds a batch it is writing
	failedAt time.Time // the last attempt (dial or write) that failed
	down     bool      // failedAt is more recent than the last success

	more chan struct{} // a line was added
	kick chan struct{} // try now: a route appeared, or a flush waits
}

// New returns a shipper that keeps up to capacity of the init's lines
// and twice as many of the kernel's (0 is DefaultCapacity) until Start or
// Discard.
func New(capacity int) *Shipper {
	if capacity <= 0 {
		capacity = DefaultCapacity
	}
	return &Shipper{q: newQueue(capacity, 2*capacity), more: make(chan struct{}, 1), kick: make(chan struct{}, 1)}
}

// Add queues m. It never blocks and never fails: when the ring is full
// the oldest line gives way and is counted.
func (s *Shipper) Add(m Message) {
	s.mu.Lock()
	if s.off {
		s.mu.Unlock()
		return
	}
	s.q.push(m)
	s.mu.Unlock()
	signal(s.more)
}

// Console queues a console line (console.Forward's function).
func (s *Shipper) Console(l console.Line) { s.Add(FromConsole(l, time.Now())) }

// Discard drops what is queued and everything added later: no collector
// is configured.
func (s *Shipper) Discard() {
	s.mu.Lock()
	s.off = true
	s.q = newQueue(1, 1)
	s.mu.Unlock()
}

// Start begins sending to t, once Release says a route exists.
func (s *Shipper) Start(t config.LogTarget, o Options) {
	if o.FirstWait <= 0 {
		o.FirstWait = 250 * time.Millisecond
	}
	if o.MaxWait <= 0 {
		o.MaxWait = 5 * time.Second
	}
	s.mu.Lock()
	if s.started || s.off {
		s.mu.Unlock()
		return
	}
	s.started, s.target, s.o = true, t, o
	s.mu.Unlock()
	go panics.Run("sending the log to "+t.String(), o.Printf, s.run)
}

// Release says that a route to the collector exists (again): the sender
// tries now, without waiting out its backoff. Before the first Release
// nothing is sent, so that lines are not lost to a route that is not the
// collector's (a collector behind the tunnel, before the tunnel is up).
func (s *Shipper) Release() {
	s.mu.Lock()
	s.released = true
	s.mu.Unlock()
	signal(s.kick)
}

// Flush sends what is queued and waits, at most timeout, until the
// collector's end has acknowledged it (TCP) or the kernel has handed it
// to the network (UDP): the handover calls it before anything it needs
// (the tunnel) goes away. It gives up early when an attempt since the
// call found the collector unreachable.
func (s *Shipper) Flush(timeout time.Duration) error {
	s.mu.Lock()
	active := s.started && !s.off
	s.mu.Unlock()
	if !active {
		return nil
	}
	s.Release()
	began := time.Now()
	deadline := began.Add(timeout)
	for {
		s.mu.Lock()
		pending, writing, conn, failedAt := s.q.len(), s.writing, s.conn, s.failedAt
		if s.q.dropped() > 0 {
			pending++
		}
		s.mu.Unlock()
		waiting := 0
		if pending == 0 && !writing {
			if conn == nil {
				return nil
			}
			n, err := unacknowledged(conn)
			if err != nil || n == 0 {
				return nil
			}
			waiting = n
		} else if conn == nil && failedAt.After(began) {
			return fmt.Errorf("%d lines not sent: %s not reachable", pending, s.target)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d lines not sent and %d bytes not acknowledged by %s after %s", pending, waiting, s.target, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// unacknowledged is what the kernel still holds of conn's writes: for TCP
// the bytes the peer has not acknowledged, for UDP those not yet handed
// to the device (SIOCOUTQ, see tcp(7) and udp(7)).
func unacknowledged(conn net.Conn) (int, error) {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return 0, errors.New("not a socket")
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return 0, err
	}
	var n int
	var ierr error
	if err := raw.Control(func(fd uintptr) { n, ierr = unix.IoctlGetInt(int(fd), unix.SIOCOUTQ) }); err != nil {
		return 0, err
	}
	return n, ierr
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// run is the sender: connect, write what is queued, and on any error close,
// wait (backoff) and connect again. Lines stay queued until written.
func (s *Shipper) run() {
	wait := s.o.FirstWait
	var addr string // the collector's address once resolved
	var conn net.Conn
	for {
		s.mu.Lock()
		ready := s.released && (s.q.len() > 0 || s.q.dropped() > 0)
		s.mu.Unlock()
		if !ready {
			select {
			case <-s.more:
			case <-s.kick:
			}
			continue
		}
		if conn == nil {
			c, err := s.connect(&addr)
			if err != nil {
				s.failed(err)
				wait = s.sleep(wait)
				continue
			}
			conn = c
			s.mu.Lock()
			s.conn, s.down = c, false
			queued := s.q.len()
			s.mu.Unlock()
			s.printf("sending to %s (%d lines queued)", s.target, queued)
		}
		if err := s.send(conn); err != nil {
			conn.Close()
			conn = nil
			s.mu.Lock()
			s.conn = nil
			s.mu.Unlock()
			s.failed(err)
			wait = s.sleep(wait)
			continue
		}
		wait = s.o.FirstWait
	}
}

// connect resolves the collector's name once (a failure is tried again
// at the next attempt) and dials it.
func (s *Shipper) connect(addr *string) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), dialTimeout)
	defer cancel()
	if *addr == "" {
		ip, err := s.resolve(ctx)
		if err != nil {
			return nil, err
		}
		*addr = net.JoinHostPort(ip.String(), strconv.Itoa(s.target.Port))
	}
	dial := s.o.Dial
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	c, err := dial(ctx, s.target.Network, *addr)
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", *addr, err)
	}
	return c, nil
}

func (s *Shipper) resolve(ctx context.Context) (netip.Addr, error) {
	if ip, ok := s.target.IP(); ok {
		return ip, nil
	}
	look := s.o.Resolve
	if look == nil {
		look = func(ctx context.Context, host string) ([]netip.Addr, error) {
			return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		}
	}
	ips, err := look(ctx, s.target.Host)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("resolving %s: %w", s.target.Host, err)
	}
	if len(ips) == 0 {
		return netip.Addr{}, fmt.Errorf("resolving %s: no address", s.target.Host)
	}
	return ips[0].Unmap(), nil
}

// send writes one batch, with a notice first when lines gave way, and
// removes what was written from the queue. A TCP write that fails halfway
// may have delivered part of the batch, which the next connection sends
// again: a line twice rather than none.
func (s *Shipper) send(conn net.Conn) error {
	s.mu.Lock()
	batch, mk := s.q.peek(batchSize)
	dropped := mk.dropped[sourceInit] + mk.dropped[sourceKernel]
	s.writing = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.writing = false
		s.mu.Unlock()
	}()
	if dropped > 0 {
		notice := Message{Time: time.Now(), Facility: facilityDaemon, Severity: sevWarning, App: AppInit, ProcID: "1", Stage: "log", Result: "warn",
			Text: fmt.Sprintf("[ WARN ] log: %d lines were dropped before this one (%d of the init's, %d of the kernel's): the buffer holds %d and %d, and %s was not reached in time",
				dropped, mk.dropped[sourceInit], mk.dropped[sourceKernel], len(s.q.rings[sourceInit].buf), len(s.q.rings[sourceKernel].buf), s.target)}
		batch = append([]Message{notice}, batch...)
	}
	host := s.hostname()
	conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	sent := 0
	var err error
	if s.target.Network == "udp" {
		// One message per datagram (RFC 5426 section 3.1).
		for _, m := range batch {
			if _, err = conn.Write(Format(m, host, maxUDP)); err != nil {
				break
			}
			sent++
		}
	} else {
		// Octet counting (RFC 6587 section 3.4.1): MSG-LEN SP SYSLOG-MSG.
		var buf []byte
		for _, m := range batch {
			msg := Format(m, host, maxTCP)
			buf = append(buf, strconv.Itoa(len(msg))...)
			buf = append(buf, ' ')
			buf = append(buf, msg...)
		}
		if _, err = conn.Write(buf); err == nil {
			sent = len(batch)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if dropped > 0 {
		if sent == 0 {
			return err
		}
		s.q.forgetDropped(mk)
		sent--
	}
	s.q.popSent(mk, sent)
	return err
}

func (s *Shipper) failed(err error) {
	s.mu.Lock()
	was := s.down
	s.failedAt, s.down = time.Now(), true
	s.mu.Unlock()
	if !was {
		s.printf("%s not reached (%v); trying again, the boot goes on", s.target, err)
	}
}

// sleep waits out the backoff, or less when kicked, and returns the next.
func (s *Shipper) sleep(wait time.Duration) time.Duration {
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
	case <-s.kick:
		return s.o.FirstWait
	}
	return min(2*wait, s.o.MaxWait)
}

func (s *Shipper) printf(format string, args ...any) {
	if s.o.Printf != nil {
		s.o.Printf(format, args...)
	}
}

func (s *Shipper) hostname() string {
	if s.o.Hostname != nil {
		return s.o.Hostname()
	}
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return ""
	}
	h := unix.ByteSliceToString(u.Nodename[:])
	if h == "(none)" {
		// The kernel's name for no name.
		return ""
	}
	return h
}
