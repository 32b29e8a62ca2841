package onfail

import (
	"context"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Console is the terminal a key press is read from.
const Console = "/dev/console"

// WaitKey returns nil when a key is pressed on the terminal tty (Console in
// the init), or ctx's error. It puts the terminal in non-canonical mode for
// the wait, so that any key counts, not only Enter, and restores it after.
// It fails at once when tty is not a terminal.
func WaitKey(ctx context.Context, tty string) error {
	f, err := os.OpenFile(tty, os.O_RDONLY|unix.O_NOCTTY, 0)
	if err != nil {
		return fmt.Errorf("opening the console: %v", err)
	}
	defer f.Close()
	fd := int(f.Fd())
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return fmt.Errorf("the console is not a terminal: %v", err)
	}
	raw := *old
	raw.Lflag &^= unix.ICANON | unix.ECHO
	raw.Cc[unix.VMIN], raw.Cc[unix.VTIME] = 1, 0
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &raw); err != nil {
		return fmt.Errorf("setting the console's mode: %v", err)
	}
	defer unix.IoctlSetTermios(fd, unix.TCSETS, old)
	// A key typed while the banner was printed counts: no flush.
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, err := unix.Poll(fds, 200)
		if err != nil && err != unix.EINTR {
			return fmt.Errorf("waiting for a key: %v", err)
		}
		if n > 0 && fds[0].Revents&unix.POLLIN != 0 {
			var b [16]byte
			_, _ = unix.Read(fd, b[:])
			return nil
		}
	}
}
