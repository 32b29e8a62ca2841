// Package panics keeps a bug in one of the init's goroutines from taking
// the machine down: in Go a panic in any goroutine ends the process, and
// PID 1 ending is a kernel panic. Every goroutine the init starts runs its
// body under Run, which turns a panic into an error for the caller to act
// on (that link failed, that session ended) and prints what a bug report
// needs.
package panics

import (
	"fmt"
	"runtime/debug"
)

// Error is a recovered panic.
type Error struct {
	What  string // what was running, for the report: "DHCP on eth0"
	Value any    // what was passed to panic
	Stack []byte // the panicking goroutine's stack
}

// Error says what the operator's error shape needs: that it is a bug, and
// the panic's value. The caller adds what failed, as for any error.
func (e *Error) Error() string { return fmt.Sprintf("internal error: %v", e.Value) }

// Report is the text for the console: what was running, the value and the
// stack, and what to do with them.
func (e *Error) Report() string {
	return fmt.Sprintf("internal error in %s: %v\n%sthis is a bug in homestaker-boot; please report it with the lines above", e.What, e.Value, e.Stack)
}

// Run calls f and returns nil when f returns. When f panics, Run recovers,
// prints the panic's Report through logf (unless nil) and returns it as an
// *Error. What f deferred (a WaitGroup's Done, a channel's close) has run
// by then, as for any panic.
func Run(what string, logf func(format string, args ...any), f func()) (err error) {
	defer func() {
		if p := recover(); p != nil {
			e := &Error{What: what, Value: p, Stack: debug.Stack()}
			if logf != nil {
				logf("%s", e.Report())
			}
			err = e
		}
	}()
	f()
	return nil
}
