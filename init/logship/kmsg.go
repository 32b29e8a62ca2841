package logship

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/homestaker/homestaker-boot/init/panics"
)

// KmsgPath is the kernel's log as records (Documentation/ABI/testing/dev-kmsg).
const KmsgPath = "/dev/kmsg"

// ReadKernel queues the kernel's log from path, from the first record the
// kernel still holds (the boot's own, at the init's start) on: the
// kernel's own messages only. What user space wrote to /dev/kmsg (the
// console's copy of its lines, which the shipper has already) is skipped.
func (s *Shipper) ReadKernel(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	boot := bootTime()
	go panics.Run("reading "+path, nil, func() {
		defer f.Close()
		// One read returns one record; the kernel's records are at most
		// 1 KiB of text plus their dictionary (printk's limit).
		buf := make([]byte, 8192)
		for {
			n, err := f.Read(buf)
			switch {
			case errors.Is(err, syscall.EPIPE):
				// Records were overwritten before they were read: go
				// on from the oldest the kernel still has.
				continue
			case errors.Is(err, syscall.EINTR), errors.Is(err, syscall.EAGAIN):
				continue
			case err != nil:
				return
			}
			if m, ok := parseKmsg(string(buf[:n]), boot); ok {
				s.Add(m)
			}
		}
	})
	return nil
}

// parseKmsg reads one /dev/kmsg record, "PRI,SEQ,USEC,FLAGS[,...];TEXT\n"
// followed by " KEY=VALUE" dictionary lines, into a message timed from
// boot (the wall clock at the kernel's start). Only facility 0 (kernel)
// is kept.
func parseKmsg(rec string, boot time.Time) (Message, bool) {
	head, text, ok := strings.Cut(rec, ";")
	if !ok {
		return Message{}, false
	}
	text, _, _ = strings.Cut(text, "\n")
	fields := strings.Split(head, ",")
	if len(fields) < 3 {
		return Message{}, false
	}
	pri, err1 := strconv.Atoi(fields[0])
	usec, err2 := strconv.ParseInt(fields[2], 10, 64)
	if err1 != nil || err2 != nil || pri < 0 {
		return Message{}, false
	}
	if pri>>3 != facilityKernel {
		return Message{}, false
	}
	return Message{
		Time:     boot.Add(time.Duration(usec) * time.Microsecond),
		Facility: facilityKernel,
		Severity: pri & 7,
		App:      AppKernel,
		Text:     text,
	}, true
}

// bootTime is the wall clock when the kernel started, by the monotonic
// clock that kmsg's timestamps count (both leave out suspend, which a
// boot does not have).
func bootTime() time.Time {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return time.Now()
	}
	return time.Now().Add(-time.Duration(ts.Nano()))
}
