// Package watchdog drives the hardware watchdog (/dev/watchdog) during the
// boot: armed with the boot's timeout, pinged while the boot makes
// progress, and left to fire when it hangs, so a server in a closet with
// no screen resets itself instead of sitting stuck.
package watchdog

import (
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/homestaker/homestaker-boot/init/panics"
)

// Device is the watchdog's character device.
const Device = "/dev/watchdog"

// The Linux watchdog API (include/uapi/linux/watchdog.h).
const (
	ioctlKeepalive  = 0x80045705 // WDIOC_KEEPALIVE
	ioctlSetTimeout = 0xc0045706 // WDIOC_SETTIMEOUT
	ioctlGetTimeout = 0x80045707 // WDIOC_GETTIMEOUT
	ioctlGetSupport = 0x80285700 // WDIOC_GETSUPPORT
)

// info is struct watchdog_info.
type info struct {
	Options  uint32
	Firmware uint32
	Identity [32]byte
}

// Dog is an armed watchdog. Its pinger goroutine keeps the machine alive
// until Hold is called (a hang) or the dog is closed.
type Dog struct {
	f        *os.File
	Identity string
	Timeout  time.Duration

	logf  func(format string, args ...any) // where a bug in the pinger is reported
	held  atomic.Bool
	alive atomic.Pointer[func() bool]
	mu    sync.Mutex // guards f
	stop  chan struct{}
	done  chan struct{}
}

// Arm opens dev (Device in the init), which starts the watchdog, sets its
// timeout and starts pinging it. It returns os.ErrNotExist (wrapped) when
// the machine has no watchdog. logf gets the report of a bug that stops
// the pings.
func Arm(dev string, timeout time.Duration, logf func(format string, args ...any)) (*Dog, error) {
	f, err := os.OpenFile(dev, os.O_WRONLY, 0)
	if err != nil {
		return nil, err
	}
	d := &Dog{f: f, logf: logf, stop: make(chan struct{}), done: make(chan struct{})}
	var wi info
	if err := ioctl(f, ioctlGetSupport, unsafe.Pointer(&wi)); err == nil {
		d.Identity = unix.ByteSliceToString(wi.Identity[:])
	}
	secs := int32(timeout / time.Second)
	if err := ioctl(f, ioctlSetTimeout, unsafe.Pointer(&secs)); err != nil {
		// Some drivers have a fixed timeout: keep theirs, but say so.
		var got int32
		if gerr := ioctl(f, ioctlGetTimeout, unsafe.Pointer(&got)); gerr != nil || got <= 0 {
			d.disarm()
			return nil, fmt.Errorf("%s (%s) refused the timeout %s: %v", dev, d.Identity, timeout, err)
		}
		secs = got
	}
	d.Timeout = time.Duration(secs) * time.Second
	d.ping()
	go d.run()
	return d, nil
}

// run pings until the dog is stopped. A bug in the pinger ends the pings,
// and the watchdog then resets the machine: that is said loudly, since
// nothing else would say why.
func (d *Dog) run() {
	defer close(d.done)
	if err := panics.Run("the watchdog's pinger", d.logf, d.pings); err != nil && d.logf != nil {
		d.logf("the watchdog %q is no longer pinged (%v): it resets the machine within %s", d.Identity, err, d.Timeout)
	}
}

// pings pings at a third of the timeout, so one late ping is not fatal.
func (d *Dog) pings() {
	t := time.NewTicker(d.Timeout / 3)
	defer t.Stop()
	for {
		select {
		case <-d.stop:
			return
		case <-t.C:
			if d.held.Load() {
				continue
			}
			if f := d.alive.Load(); f != nil && !(*f)() {
				continue
			}
			d.ping()
		}
	}
}

func (d *Dog) ping() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.f != nil {
		_ = ioctl(d.f, ioctlKeepalive, nil)
	}
}

// Watch makes the pings depend on alive: while it returns false the boot
// is taken to hang and the watchdog is left to fire.
func (d *Dog) Watch(alive func() bool) {
	if d != nil {
		d.alive.Store(&alive)
	}
}

// Hold stops the pings: the boot is waiting on something that may never
// come (homestaker.break with nobody at the console), and the watchdog is
// to reset the machine when it does not. Release resumes them.
func (d *Dog) Hold() {
	if d != nil {
		d.held.Store(true)
	}
}

// Release resumes the pings after Hold, with one at once.
func (d *Dog) Release() {
	if d != nil {
		d.held.Store(false)
		d.ping()
	}
}

// Stop disarms the watchdog (the magic close) and ends the pings: the next
// system does not run a watchdog daemon.
func (d *Dog) Stop() error {
	if d == nil {
		return nil
	}
	d.end()
	return d.disarm()
}

// Keep pings once more and closes the device without the magic close, so
// the watchdog keeps running across a kexec: the next system's watchdog
// daemon has Timeout to take it over, or the machine resets.
func (d *Dog) Keep() error {
	if d == nil {
		return nil
	}
	d.end()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.f == nil {
		return nil
	}
	_ = ioctl(d.f, ioctlKeepalive, nil)
	err := d.f.Close()
	d.f = nil
	return err
}

func (d *Dog) end() {
	select {
	case <-d.stop:
	default:
		close(d.stop)
		<-d.done
	}
}

// disarm writes the magic 'V' before closing, which stops the timer on
// drivers not built with nowayout.
func (d *Dog) disarm() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.f == nil {
		return nil
	}
	_, werr := d.f.Write([]byte("V"))
	cerr := d.f.Close()
	d.f = nil
	if werr != nil {
		return werr
	}
	return cerr
}

func ioctl(f *os.File, req uintptr, arg unsafe.Pointer) error {
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, f.Fd(), req, uintptr(arg)); e != 0 {
		return e
	}
	return nil
}
