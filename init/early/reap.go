package early

import (
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/homestaker/homestaker-boot/init/panics"
)

// Reaper collects orphaned children. Children the init starts itself go
// through Start, so that the reaper leaves them to their exec.Cmd.Wait
// rather than stealing their exit status.
type Reaper struct {
	mu      sync.Mutex // guards own and serialises starting against reaping
	own     map[int]bool
	started bool
	// zombies lists the children of a pid that have exited; a test makes
	// it panic.
	zombies func(parent int) []int
}

var reaper = &Reaper{own: map[int]bool{}, zombies: zombieChildren}

// Reap starts the reaper. It is idempotent. logf gets the report of a bug
// that stops it.
func Reap(logf func(format string, args ...any)) {
	reaper.mu.Lock()
	defer reaper.mu.Unlock()
	if reaper.started {
		return
	}
	reaper.started = true
	c := make(chan os.Signal, 8)
	signal.Notify(c, unix.SIGCHLD)
	go reaper.run(c, logf)
}

// run reaps at every SIGCHLD. A bug ends it: orphans then stay zombies,
// which PID 1 survives, but the operator must hear of it.
func (r *Reaper) run(sigchld <-chan os.Signal, logf func(format string, args ...any)) {
	err := panics.Run("the reaper of orphaned processes", logf, func() {
		for range sigchld {
			r.reap()
		}
	})
	if err != nil && logf != nil {
		logf("orphaned processes are no longer reaped (%v): they stay zombies until the machine restarts", err)
	}
}

// Start starts cmd as a child the reaper will not collect; call Done after
// cmd.Wait.
func Start(cmd *exec.Cmd) error {
	reaper.mu.Lock()
	defer reaper.mu.Unlock()
	if err := cmd.Start(); err != nil {
		return err
	}
	reaper.own[cmd.Process.Pid] = true
	return nil
}

// Done forgets a child started with Start.
func Done(cmd *exec.Cmd) {
	reaper.mu.Lock()
	defer reaper.mu.Unlock()
	if cmd.Process != nil {
		delete(reaper.own, cmd.Process.Pid)
	}
}

func (r *Reaper) reap() {
	r.mu.Lock()
	defer r.mu.Unlock()
	// wait4(-1) would also collect the children that exec.Cmd waits for,
	// so reap by pid the zombies that are not ours.
	for _, pid := range r.zombies(os.Getpid()) {
		if r.own[pid] {
			continue
		}
		var ws unix.WaitStatus
		_, _ = unix.Wait4(pid, &ws, unix.WNOHANG, nil)
	}
}

// zombieChildren lists the children of parent that have exited.
func zombieChildren(parent int) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		state, ppid, ok := parseStat(string(b))
		if ok && state == 'Z' && ppid == parent {
			pids = append(pids, pid)
		}
	}
	return pids
}

// parseStat reads the state and parent pid from /proc/PID/stat; the command
// name in parentheses may itself contain spaces and parentheses.
func parseStat(s string) (state byte, ppid int, ok bool) {
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, 0, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 2 || len(f[0]) != 1 {
		return 0, 0, false
	}
	ppid, err := strconv.Atoi(f[1])
	if err != nil {
		return 0, 0, false
	}
	return f[0][0], ppid, true
}
