package wg

import (
	"fmt"
	"sync"

	"golang.zx2c4.com/wireguard/device"

	"github.com/homestaker/homestaker-boot/init/wgconf"
)

// maxDeviceErrors bounds how many of wireguard-go's error lines reach the
// console: a peer that is down makes it repeat the same line every few
// seconds for as long as the boot waits.
const maxDeviceErrors = 10

// deviceLog is wireguard-go's logger. Its verbose output goes nowhere;
// its errors, redacted, deduplicated and bounded, go to printf. wireguard-go
// logs a failed UAPI set with the error, which may quote a UAPI line, and
// our UAPI lines hold keys: hence redact.
type deviceLog struct {
	printf func(format string, args ...any) // nil: discard

	mu   sync.Mutex // guards seen and n
	seen map[string]bool
	n    int
}

func (l *deviceLog) logger() *device.Logger {
	return &device.Logger{Verbosef: device.DiscardLogf, Errorf: l.errorf}
}

func (l *deviceLog) errorf(format string, args ...any) {
	msg := wgconf.Redact(fmt.Sprintf(format, args...))
	l.mu.Lock()
	if l.seen == nil {
		l.seen = map[string]bool{}
	}
	if l.printf == nil || l.seen[msg] || l.n > maxDeviceErrors {
		l.mu.Unlock()
		return
	}
	l.seen[msg] = true
	l.n++
	last := l.n > maxDeviceErrors
	l.mu.Unlock()
	if last {
		l.printf("wireguard-go: more errors, not shown")
		return
	}
	l.printf("wireguard-go: %s", msg)
}
