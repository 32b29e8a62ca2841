package main

import (
	"fmt"
	"io"

	"github.com/homestaker/homestaker-boot/init/console"
	"github.com/homestaker/homestaker-boot/init/report"
	"github.com/homestaker/homestaker-boot/init/secrets"
)

// tag is the console's status tag for a check result, so that the CLI and
// the boot console look the same.
func tag(s report.Status) console.Status {
	switch s {
	case report.OK:
		return console.OK
	case report.Warning:
		return console.Warn
	case report.Skipped:
		return console.Skipped
	}
	return console.Failed
}

// printChecks writes one line per check and, under a check that says what
// to do, an indented "to do" line. Checks hold no secret values.
func printChecks(w io.Writer, checks []secrets.Check) {
	for _, c := range checks {
		fmt.Fprintf(w, "%s %s: %s\n", tag(c.Status), c.Name, c.Message)
		if c.Action != "" {
			fmt.Fprintf(w, "  to do: %s\n", c.Action)
		}
	}
}

func anyFailed(checks []secrets.Check) bool {
	for _, c := range checks {
		if c.Status == report.Failed {
			return true
		}
	}
	return false
}
