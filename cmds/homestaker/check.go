package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/homestaker/homestaker-boot/init/config"
	"github.com/homestaker/homestaker-boot/init/report"
	"github.com/homestaker/homestaker-boot/init/secrets"
)

const (
	checkSynopsis = "[--json] [--subvols a,b,c] [--wg required|optional|off] PATH"
	checkAbout    = `Runs the checks the init's secrets stage runs (wg0.conf, the JWT copies, the
SSH host key, the subvolumes or directories) on PATH, a directory holding
them: a mounted volume's top level (Btrfs subvolumes, or ext4/xfs/Btrfs
directories, which it says; a secrets directory open to other users is a
warning), or any tree with secrets/, erigon/, lighthouse/.
It prints one line per check, and what to do under a failed one.

exit status: 0 all checks pass (warnings allowed), 1 a check failed,
2 wrong usage`
)

// checkOutput is what --json prints.
type checkOutput struct {
	Path   string          `json:"path"`
	Checks []secrets.Check `json:"checks"`
	OK     bool            `json:"ok"`
}

func runCheck(_ *host, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("check")
	asJSON := fs.Bool("json", false, "print the result as JSON: {\"path\", \"checks\", \"ok\"}")
	subvols := fs.String("subvols", strings.Join(config.Defaults().Subvols, ","), "the subvolumes the init mounts (homestaker.subvols), the secrets subvolume first")
	wg := fs.String("wg", config.Defaults().WG.String(), "how much the boot depends on the tunnel (homestaker.wg):\nrequired, optional (a bad or missing wg0.conf is a warning) or off (no wg0.conf needed)")
	if code := parseFlags(fs, usageText{checkSynopsis, checkAbout, map[string]string{"subvols": "a,b,c", "wg": "required|optional|off"}}, args, stdout, stderr); code >= 0 {
		return code
	}
	fail := func(format string, a ...any) int {
		return usageFailed(stderr, "check", checkSynopsis, fmt.Errorf(format, a...))
	}
	switch fs.NArg() {
	case 0:
		return fail("PATH is missing: give the directory holding the subvolumes")
	case 1:
	default:
		return fail("one PATH expected, got %d arguments (flags go before PATH)", fs.NArg())
	}
	path := fs.Arg(0)
	if st, err := os.Stat(path); err != nil {
		return fail("PATH %s: %v", path, err)
	} else if !st.IsDir() {
		return fail("PATH %s is not a directory: give the directory holding the subvolumes (mount the volume first)", path)
	}
	cfg, err := bootParam("homestaker.subvols", *subvols)
	if err != nil {
		return fail("--subvols %q: %v", *subvols, err)
	}
	wcfg, err := bootParam("homestaker.wg", *wg)
	if err != nil {
		return fail("--wg %q: %v", *wg, err)
	}
	mode := wcfg.WG

	r := secrets.CheckVolume(path, secrets.Options{Subvols: cfg.Subvols, WGNeeded: mode != config.WGOff})
	for i, c := range r.Checks {
		// As in the init: with homestaker.wg=optional a bad wg0.conf
		// does not stop the boot.
		if c.Name == "wireguard" && c.Status == report.Failed && mode == config.WGOptional {
			r.Checks[i].Status = report.Warning
			r.Checks[i].Message += " (homestaker.wg=optional: the init boots without the tunnel)"
		}
	}
	ok := !anyFailed(r.Checks)
	if *asJSON {
		b, err := json.MarshalIndent(checkOutput{Path: path, Checks: r.Checks, OK: ok}, "", "  ")
		if err != nil {
			fmt.Fprintf(stderr, "homestaker check: %v\n", err)
			return exitCheck
		}
		fmt.Fprintf(stdout, "%s\n", b)
	} else {
		printChecks(stdout, r.Checks)
	}
	if !ok {
		return exitCheck
	}
	return exitOK
}
