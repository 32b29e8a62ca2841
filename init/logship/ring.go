package logship

// ring holds the messages not sent yet: a fixed number, the oldest giving
// way to the newest, so that a collector never reached costs a bounded
// amount of memory. Each message has a sequence number (first is the
// oldest's), so that the sender can remove what it sent even when older
// ones gave way while it wrote. dropped counts what gave way since the
// last notice.
type ring struct {
	buf     []Message
	head, n int
	first   uint64
	dropped int
}

func newRing(capacity int) *ring { return &ring{buf: make([]Message, capacity)} }

func (r *ring) push(m Message) {
	if r.n == len(r.buf) {
		r.buf[r.head] = m
		r.head = (r.head + 1) % len(r.buf)
		r.first++
		r.dropped++
		return
	}
	r.buf[(r.head+r.n)%len(r.buf)] = m
	r.n++
}

// peek returns up to max of the oldest messages, without removing them,
// and the sequence number after the last one returned.
func (r *ring) peek(max int) ([]Message, uint64) {
	k := min(max, r.n)
	out := make([]Message, k)
	for i := range out {
		out[i] = r.buf[(r.head+i)%len(r.buf)]
	}
	return out, r.first + uint64(k)
}

// popUntil removes the messages before sequence number end.
func (r *ring) popUntil(end uint64) {
	for r.n > 0 && r.first < end {
		r.buf[r.head] = Message{}
		r.head = (r.head + 1) % len(r.buf)
		r.first++
		r.n--
	}
}
