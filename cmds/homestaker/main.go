// Command homestaker is the operator's tool for HomestakerOS nodes: it
// prepares a disk and its secrets, checks a volume offline with the same
// code the init runs at boot, installs a next stage, and chainloads the
// bootstrap from a running Linux.
package main

import (
	"fmt"
	"io"
	"os"
)

const version = "0.1.0-dev"

// Exit statuses, as documented in --help.
const (
	exitOK    = 0
	exitCheck = 1
	exitUsage = 2
)

type command struct {
	name, args, summary string
	run                 func(h *host, args []string, stdout, stderr io.Writer) int // nil: not in this build yet
}

// host is what the commands read from the machine they run on: main
// passes thisHost(), tests their own.
type host struct {
	procCmdline string     // the running kernel's command line, for chainload's console=
	geteuid     func() int // chainload's check for root
	passwordTTY string     // where install-next asks for a minisign key's password
	wipefs      string     // util-linux's wipefs, which prepare asks what the device holds
}

func thisHost() *host {
	return &host{procCmdline: "/proc/cmdline", geteuid: os.Geteuid, passwordTTY: "/dev/tty", wipefs: "wipefs"}
}

var commands = []command{
	{"prepare", prepareSynopsis, "format DEVICE as the Btrfs volume, create subvolumes, generate the WireGuard keys, JWT and SSH host key", runPrepare},
	{"check", checkSynopsis, "run the init's checks on a mounted volume or a tree with secrets/, erigon/, lighthouse/", runCheck},
	{"install-next", installNextSynopsis, "install a HomestakerOS kexec tree as /boot/current, keeping the old one as /boot/previous", runInstallNext},
	{"snapshots", snapshotsSynopsis, "list the snapshot sets of the client data on a mounted top level", runSnapshots},
	{"snapshot", snapshotSynopsis, "take a manual set of read-only snapshots of the client data", runSnapshot},
	{"rollback", rollbackSynopsis, "roll the client data and the image back to a snapshot set, slashing protection carried forward", runRollback},
	{"chainload", chainloadSynopsis, "kexec this running Linux into the homestaker-boot bootstrap", runChainload},
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "homestaker %s: prepare, check and boot HomestakerOS nodes\n\nusage:\n", version)
	for _, c := range commands {
		fmt.Fprintf(w, "  homestaker %s %s\n      %s\n", c.name, c.args, c.summary)
	}
	fmt.Fprintf(w, "  homestaker help | --help | version\n\nexit status: 0 all good, 1 a check failed, 2 wrong usage\n")
}

func main() {
	os.Exit(run(thisHost(), os.Args[1:], os.Stdout, os.Stderr))
}

func run(h *host, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	switch args[0] {
	case "help", "-h", "--help":
		usage(stdout)
		return exitOK
	case "version", "--version":
		fmt.Fprintf(stdout, "homestaker %s\n", version)
		return exitOK
	}
	for _, c := range commands {
		if c.name != args[0] {
			continue
		}
		if c.run == nil {
			fmt.Fprintf(stderr, "homestaker %s: not available in this build yet\n", c.name)
			return exitUsage
		}
		return c.run(h, args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "homestaker: unknown command %q\n\n", args[0])
	usage(stderr)
	return exitUsage
}
