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

// popUntil removes the messages before sequence number end.
func (r *ring) popUntil(end uint64) {
	for r.n > 0 && r.first < end {
		r.buf[r.head] = Message{}
		r.head = (r.head + 1) % len(r.buf)
		r.first++
		r.n--
	}
}

// queue keeps the init's lines and the kernel's in rings of their own, so
// that a chatty kernel (a big server logs thousands of lines at boot)
// never pushes the init's banner out; they go out merged, in the order
// they were added.
type queue struct {
	rings [2]*ring // sourceInit, sourceKernel
	seq   uint64   // the last message's place in the order of adding
}

const (
	sourceInit = iota
	sourceKernel
)

func newQueue(initCap, kernelCap int) *queue {
	return &queue{rings: [2]*ring{newRing(initCap), newRing(kernelCap)}}
}

func source(m Message) int {
	if m.App == AppKernel {
		return sourceKernel
	}
	return sourceInit
}

func (q *queue) push(m Message) {
	q.seq++
	m.order = q.seq
	q.rings[source(m)].push(m)
}

func (q *queue) len() int     { return q.rings[0].n + q.rings[1].n }
func (q *queue) dropped() int { return q.rings[0].dropped + q.rings[1].dropped }

// mark is what a peek took, for popSent.
type mark struct {
	start   [2]uint64 // each ring's first sequence number at the peek
	from    []int     // the source of each message taken, in order
	dropped [2]int    // the rings' dropped counts at the peek
}

// peek returns up to max of the oldest messages of both rings, in the
// order they were added, without removing them.
func (q *queue) peek(max int) ([]Message, mark) {
	mk := mark{start: [2]uint64{q.rings[0].first, q.rings[1].first}, dropped: [2]int{q.rings[0].dropped, q.rings[1].dropped}}
	var out []Message
	var i [2]int
	for len(out) < max {
		pick := -1
		for r := range q.rings {
			if i[r] >= q.rings[r].n {
				continue
			}
			if pick < 0 || q.rings[r].at(i[r]).order < q.rings[pick].at(i[pick]).order {
				pick = r
			}
		}
		if pick < 0 {
			break
		}
		out = append(out, q.rings[pick].at(i[pick]))
		mk.from = append(mk.from, pick)
		i[pick]++
	}
	return out, mk
}

// popSent removes the first sent messages of a peek's.
func (q *queue) popSent(mk mark, sent int) {
	var k [2]uint64
	for _, r := range mk.from[:sent] {
		k[r]++
	}
	for r := range q.rings {
		q.rings[r].popUntil(mk.start[r] + k[r])
	}
}

// forgetDropped says that a notice reported what the peek counted.
func (q *queue) forgetDropped(mk mark) {
	for r := range q.rings {
		q.rings[r].dropped -= mk.dropped[r]
	}
}

func (r *ring) at(i int) Message { return r.buf[(r.head+i)%len(r.buf)] }
