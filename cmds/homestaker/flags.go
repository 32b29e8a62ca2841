package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/homestaker/homestaker-boot/init/config"
)

// usageError is wrong usage: exit status 2, the reason on stderr.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{fmt.Sprintf(format, args...)}
}

// newFlagSet returns a FlagSet that prints nothing itself: parseFlags
// decides where help and errors go.
func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// usageText is a subcommand's --help: the synopsis, what it does (with
// its exit statuses) and, for each flag, the name of its value.
type usageText struct {
	synopsis string
	about    string
	argNames map[string]string
}

// parseFlags parses args. It returns the status to exit with when the
// command should stop: 0 after --help (usage on stdout), 2 on wrong usage
// (the reason and the usage line on stderr), -1 to go on.
func parseFlags(fs *flag.FlagSet, u usageText, args []string, stdout, stderr io.Writer) int {
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		printUsage(stdout, fs, u)
		return exitOK
	case err != nil:
		return usageFailed(stderr, fs.Name(), u.synopsis, err)
	}
	return -1
}

func usageFailed(stderr io.Writer, name, synopsis string, err error) int {
	fmt.Fprintf(stderr, "homestaker %s: %v\nusage: homestaker %s %s\n(homestaker %s --help lists every flag)\n", name, err, name, synopsis, name)
	return exitUsage
}

// printUsage writes the synopsis, what the command does and every flag,
// spelt with two dashes as the documentation does.
func printUsage(w io.Writer, fs *flag.FlagSet, u usageText) {
	fmt.Fprintf(w, "usage: homestaker %s %s\n\n%s\n\nflags:\n", fs.Name(), u.synopsis, u.about)
	fs.VisitAll(func(f *flag.Flag) {
		arg, text := flag.UnquoteUsage(f)
		if a, ok := u.argNames[f.Name]; ok {
			arg = a
		}
		name := "--" + f.Name
		if arg != "" {
			name += " " + arg
		}
		fmt.Fprintf(w, "  %s\n      %s", name, strings.ReplaceAll(text, "\n", "\n      "))
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" {
			fmt.Fprintf(w, " (default %s)", f.DefValue)
		}
		fmt.Fprintln(w)
	})
}

// setFlags returns the names of the flags given on the command line.
func setFlags(fs *flag.FlagSet) map[string]bool {
	m := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { m[f.Name] = true })
	return m
}

// bootParam checks a value with the init's own rule for the kernel
// command line parameter key (homestaker.subvols, homestaker.label, ...),
// so that prepare and check accept exactly what the init accepts. It
// returns the configuration with the value applied.
func bootParam(key, value string) (config.Config, error) {
	if strings.ContainsAny(value, "\"\n") {
		return config.Config{}, fmt.Errorf("%q contains a double quote or a newline", value)
	}
	cfg, problems := config.Parse(key+`="`+value+`"`, config.Defaults())
	for _, p := range problems {
		return cfg, errors.New(p.Message)
	}
	return cfg, nil
}
