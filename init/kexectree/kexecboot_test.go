package kexectree

import (
	"errors"
	"strings"
	"testing"
)

const nixInit = "init=/nix/store/0f6j3bx1s4z9n0z4ivw5z9b0jm6f7m0s-nixos-system-homestakeros-23.11/init"

// homestakerKexecBoot is kexec-boot as HomestakerOS's web UI writes it.
const homestakerKexecBoot = `#!/usr/bin/env bash
if ! kexec -v >/dev/null 2>&1; then
  echo "kexec not found: please install kexec-tools" 2>&1
  exit 1
fi
SCRIPT_DIR=$( cd -- "$( dirname -- "${BASH_SOURCE[0]}" )" &> /dev/null && pwd )
kexec --load ${SCRIPT_DIR}/bzImage \
  --initrd=${SCRIPT_DIR}/initrd.zst \
  --command-line "` + nixInit + ` boot.shell_on_fail mitigations=off loglevel=4"
systemctl kexec
`

const homestakerCmdline = nixInit + " boot.shell_on_fail mitigations=off loglevel=4"

// kexecScript is the HomestakerOS script with its kexec command replaced.
func kexecScript(kexec string) string {
	const head = `#!/usr/bin/env bash
if ! kexec -v >/dev/null 2>&1; then
  echo "kexec not found: please install kexec-tools" 2>&1
  exit 1
fi
SCRIPT_DIR=$( cd -- "$( dirname -- "${BASH_SOURCE[0]}" )" &> /dev/null && pwd )
`
	return head + kexec + "\nsystemctl kexec\n"
}

func TestParseKexecBoot(t *testing.T) {
	homestaker := Tree{Kernel: "bzImage", Initrd: "initrd.zst", Cmdline: homestakerCmdline, From: "kexec-boot"}
	for _, tt := range []struct {
		name   string
		script string
		want   Tree
	}{
		{"homestakeros", homestakerKexecBoot, homestaker},
		{"crlf", strings.ReplaceAll(homestakerKexecBoot, "\n", "\r\n"), homestaker},
		{"no trailing newline", strings.TrimSuffix(homestakerKexecBoot, "\n"), homestaker},
		{"one line", kexecScript(`kexec --load ${SCRIPT_DIR}/bzImage --initrd=${SCRIPT_DIR}/initrd.zst --command-line "` + homestakerCmdline + `"`), homestaker},
		{"-l, spaced --initrd, bare $SCRIPT_DIR", kexecScript(`kexec -l $SCRIPT_DIR/bzImage --initrd $SCRIPT_DIR/initrd.zst --command-line "` + homestakerCmdline + `"`), homestaker},
		{"quoted $SCRIPT_DIR", kexecScript(`kexec --load "$SCRIPT_DIR/bzImage" --initrd="${SCRIPT_DIR}"/initrd.zst --command-line="` + homestakerCmdline + `"`), homestaker},
		{"single quotes", kexecScript(`kexec --load bzImage --initrd=initrd.zst --command-line '` + homestakerCmdline + `'`), homestaker},
		{"options in any order", kexecScript(`kexec --command-line "` + homestakerCmdline + `" --initrd=./initrd.zst -s --load ./bzImage`), homestaker},
		{"--append and --ramdisk", kexecScript(`kexec -l bzImage --ramdisk=initrd.zst --append "` + homestakerCmdline + `"`), homestaker},
		{"--append= and --kexec-syscall-auto", kexecScript(`kexec --kexec-syscall-auto -l bzImage --ramdisk initrd.zst --append="` + homestakerCmdline + `"`), homestaker},
		{"combined short flags", kexecScript(`kexec -ls bzImage --initrd=initrd.zst --command-line="` + homestakerCmdline + `"`), homestaker},
		{"-- ends options", kexecScript(`kexec -l --initrd=initrd.zst --command-line="` + homestakerCmdline + `" -- bzImage`), homestaker},
		{"double slash and dot", kexecScript(`kexec -l ${SCRIPT_DIR}//./bzImage --initrd=${SCRIPT_DIR}/x/../initrd.zst --command-line="` + homestakerCmdline + `"`), homestaker},
		{"extra comments", "#!/usr/bin/env bash\n# built by HomestakerOS\n\n" + strings.Replace(homestakerKexecBoot, "systemctl kexec", "# now boot it\nsystemctl kexec # reboot into it", 1), homestaker},
		{"trailing comment on a continued line", kexecScript("kexec -l bzImage \\\n  --initrd=initrd.zst # --command-line \"x\""), Tree{Kernel: "bzImage", Initrd: "initrd.zst", From: "kexec-boot"}},
		{"set -euo pipefail and kexec -e", "#!/usr/bin/env bash\nset -euo pipefail\nkexec -l bzImage --initrd=initrd.zst --command-line=\"" + homestakerCmdline + "\"\nkexec -e\n", homestaker},
		{"kexec --exec and no initrd", "kexec --load bzImage --command-line \"console=ttyS0\"\nkexec --exec\n", Tree{Kernel: "bzImage", Cmdline: "console=ttyS0", From: "kexec-boot"}},
		{"no command line", "kexec --load bzImage\n", Tree{Kernel: "bzImage", From: "kexec-boot"}},
		{"empty command line", "kexec --load bzImage --command-line ''\n", Tree{Kernel: "bzImage", From: "kexec-boot"}},
		{"kernel in a subdirectory", "kexec --load ${SCRIPT_DIR}/kernels/bzImage\n", Tree{Kernel: "kernels/bzImage", From: "kexec-boot"}},
		{"one-line kexec check", "if ! kexec -v >/dev/null 2>&1; then echo no kexec; exit 1; fi\nkexec -l bzImage\n", Tree{Kernel: "bzImage", From: "kexec-boot"}},
		{"nested if in the check", "if ! kexec -v; then\n  if true; then\n    echo 'can'\"'\"'t'\n  fi\n  exit 1\nfi\nkexec -l bzImage\n", Tree{Kernel: "bzImage", From: "kexec-boot"}},
		{"escapes in double quotes", `kexec -l bzImage --command-line "a=\"b c\" d=\\ e=\$HOME f=\x g=$ h=\` + "`" + `"` + "\n", Tree{Kernel: "bzImage", Cmdline: `a="b c" d=\ e=$HOME f=\x g=$ h=` + "`", From: "kexec-boot"}},
		{"variables in single quotes are literal", `kexec -l bzImage --command-line 'x=$HOME y=$(date) z=` + "`a`" + ` \"'` + "\n", Tree{Kernel: "bzImage", Cmdline: `x=$HOME y=$(date) z=` + "`a`" + ` \"`, From: "kexec-boot"}},
		{"backslash outside quotes", `kexec -l bz\Image --command-line a\ b\"c` + "\n", Tree{Kernel: "bzImage", Cmdline: `a b"c`, From: "kexec-boot"}},
		{"continuation inside double quotes", "kexec -l bzImage --command-line \"a \\\n  b\"\n", Tree{Kernel: "bzImage", Cmdline: "a   b", From: "kexec-boot"}},
		{"newline inside quotes is kept", "kexec -l bzImage --command-line \"a\nb\"\nsystemctl kexec\n", Tree{Kernel: "bzImage", Cmdline: "a\nb", From: "kexec-boot"}},
		{"SCRIPT_DIR assignment in other forms", "SCRIPT_DIR=\"$(dirname \"$0\")\"\nkexec -l \"$SCRIPT_DIR\"/bzImage\n", Tree{Kernel: "bzImage", From: "kexec-boot"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseKexecBoot("/boot/current/kexec-boot", []byte(tt.script))
			if err != nil {
				t.Fatalf("ParseKexecBoot: %v", err)
			}
			if got != tt.want {
				t.Errorf("ParseKexecBoot =\n %+v\nwant\n %+v", got, tt.want)
			}
		})
	}
}

func TestParseKexecBootErrors(t *testing.T) {
	const file = "/boot/current/kexec-boot"
	for _, tt := range []struct {
		name   string
		script string
		line   int
		text   string // ParseError.Text
		msg    string // a part of ParseError.Msg
	}{
		{
			"misspelt option on a continued line",
			strings.Replace(homestakerKexecBoot, "--initrd=", "--inirtd=", 1),
			7, `kexec --load ${SCRIPT_DIR}/bzImage --inirtd=${SCRIPT_DIR}/initrd.zst --command-line "init=/nix/store/0f6j3bx1s4z9n0z4...`,
			`unknown kexec option --inirtd; expected --load KERNEL, --initrd=FILE, --command-line "..."`,
		},
		{
			"misspelt --load", kexecScript("kexec --lode bzImage"),
			7, "kexec --lode bzImage", "unknown kexec option --lode",
		},
		{
			"unknown line", "#!/usr/bin/env bash\n\nrm -rf /\nkexec -l bzImage\n",
			3, "rm -rf /", "not a line a kexec-boot script has",
		},
		{
			"kexec on a path is not kexec", "/sbin/kexec -l bzImage\n",
			1, "/sbin/kexec -l bzImage", "not a line a kexec-boot script has",
		},
		{
			"no kexec command", "#!/usr/bin/env bash\nsystemctl kexec\n",
			2, "systemctl kexec", "comes before the kexec --load command",
		},
		{
			"empty script", "",
			0, "", "no kexec command",
		},
		{
			"only boilerplate", strings.Replace(homestakerKexecBoot, "kexec --load", "#kexec --load", 1),
			8, `--initrd=${SCRIPT_DIR}/initrd.zst --command-line "init=/nix/store/0f6j3bx1s4z9n0z4ivw5z9b0jm6f7m0s-nixos-system-homes...`, "not a line a kexec-boot script has",
		},
		{
			"two kexec commands", "kexec -l bzImage\nkexec -l bzImage.old\n",
			2, "kexec -l bzImage.old", "second kexec command; the first is on line 1",
		},
		{
			"no --load", "kexec bzImage --initrd=initrd.zst\n",
			1, "kexec bzImage --initrd=initrd.zst", "without --load",
		},
		{
			"no kernel", "kexec --load --initrd=initrd.zst --command-line \"x\"\n",
			1, `kexec --load --initrd=initrd.zst --command-line "x"`, "no kernel",
		},
		{
			"two kernels", "kexec --load bzImage bzImage2\n",
			1, "kexec --load bzImage bzImage2", "more than one kernel",
		},
		{
			"--reuse-cmdline", "kexec --load bzImage --reuse-cmdline\n",
			1, "kexec --load bzImage --reuse-cmdline", "nothing to reuse",
		},
		{
			"value missing", "kexec --load bzImage --initrd\n",
			1, "kexec --load bzImage --initrd", "--initrd needs a value",
		},
		{
			"two initrds", "kexec --load bzImage --initrd=a --ramdisk=b\n",
			1, "kexec --load bzImage --initrd=a --ramdisk=b", "given twice",
		},
		{
			"-l with a value", "kexec -l=bzImage\n",
			1, "kexec -l=bzImage", "unknown kexec option -l",
		},
		{
			"absolute kernel", "kexec --load /boot/vmlinuz\n",
			1, "kexec --load /boot/vmlinuz", "absolute path",
		},
		{
			"kernel escaping the tree", "kexec --load ${SCRIPT_DIR}/../previous/bzImage\n",
			1, "kexec --load ${SCRIPT_DIR}/../previous/bzImage", "leaves the kexec tree",
		},
		{
			"initrd escaping the tree", "kexec --load bzImage --initrd=sub/../../initrd.zst\n",
			1, "kexec --load bzImage --initrd=sub/../../initrd.zst", "leaves the kexec tree",
		},
		{
			"kernel is the tree", "kexec --load \"$SCRIPT_DIR\"\n",
			1, `kexec --load "$SCRIPT_DIR"`, "names the tree's directory",
		},
		{
			"SCRIPT_DIR glued to the name", "kexec --load ${SCRIPT_DIR}bzImage\n",
			1, "kexec --load ${SCRIPT_DIR}bzImage", "expected ${SCRIPT_DIR}/NAME",
		},
		{
			"SCRIPT_DIR inside a path", "kexec --load ./x${SCRIPT_DIR}/bzImage\n",
			1, "kexec --load ./x${SCRIPT_DIR}/bzImage", "may only start a path",
		},
		{
			"SCRIPT_DIR in the command line", "kexec --load bzImage --command-line \"root=$SCRIPT_DIR\"\n",
			1, `kexec --load bzImage --command-line "root=$SCRIPT_DIR"`, "$SCRIPT_DIR in the command line",
		},
		{
			"other variable", "kexec --load bzImage --command-line \"$PARAMS\"\n",
			1, `kexec --load bzImage --command-line "$PARAMS"`, "$PARAMS is not supported",
		},
		{
			"other braced variable", "kexec --load ${DIR}/bzImage\n",
			1, "kexec --load ${DIR}/bzImage", "${DIR} is not supported",
		},
		{
			"command substitution", "kexec --load bzImage --command-line \"$(cat /proc/cmdline)\"\n",
			1, `kexec --load bzImage --command-line "$(cat /proc/cmdline)"`, "command substitution is not supported",
		},
		{
			"backticks", "kexec --load bzImage --command-line `cat cmdline`\n",
			1, "kexec --load bzImage --command-line `cat cmdline`", "backtick",
		},
		{
			"positional parameter", "kexec --load $1\n",
			1, "kexec --load $1", "$1 is not supported",
		},
		{
			"shell operator", "kexec --load bzImage && systemctl kexec\n",
			1, "kexec --load bzImage && systemctl kexec", `shell operator '&'`,
		},
		{
			"glob", "kexec --load bzImage*\n",
			1, "kexec --load bzImage*", "quote it",
		},
		{
			"unclosed single quote", "#!/bin/sh\nkexec --load bzImage --command-line 'x\n",
			2, "kexec --load bzImage --command-line 'x", "quote is never closed",
		},
		{
			"unclosed double quote on a continued line", "kexec --load bzImage \\\n --command-line \"x\nsystemctl kexec\n",
			1, `kexec --load bzImage \`, "quote is never closed",
		},
		{
			"unclosed kexec check", "if ! kexec -v >/dev/null 2>&1; then\n  exit 1\nkexec -l bzImage\n",
			1, "if ! kexec -v >/dev/null 2>&1; then", "never closed with fi",
		},
		{
			"exec before load", "kexec -e\nkexec -l bzImage\n",
			1, "kexec -e", "comes before the kexec --load command",
		},
		{
			"NUL byte", "kexec -l bz\x00Image\n",
			1, "kexec -l bz\x00Image", "NUL byte",
		},
		{
			"set without flags", "set foo\nkexec -l bzImage\n",
			1, "set foo", "not a line a kexec-boot script has",
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseKexecBoot(file, []byte(tt.script))
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("ParseKexecBoot = %+v, %v; want a *ParseError", got, err)
			}
			if pe.File != file || pe.Line != tt.line || pe.Text != tt.text || !strings.Contains(pe.Msg, tt.msg) {
				t.Errorf("ParseKexecBoot error = %#v\nwant File %q Line %d Text %q Msg containing %q", pe, file, tt.line, tt.text, tt.msg)
			}
		})
	}
}

func TestParseErrorString(t *testing.T) {
	for _, tt := range []struct {
		err  ParseError
		want string
	}{
		{
			ParseError{File: "/boot/current/kexec-boot", Line: 7, Text: "kexec --lode bzImage", Msg: "unknown kexec option --lode"},
			`/boot/current/kexec-boot:7: "kexec --lode bzImage": unknown kexec option --lode`,
		},
		{
			ParseError{File: "/boot/current/kexec-boot", Msg: "no kexec command"},
			`/boot/current/kexec-boot: no kexec command`,
		},
		{
			ParseError{File: "netboot.ipxe", Line: 1, Msg: "expected #!ipxe as the first line"},
			`netboot.ipxe:1: expected #!ipxe as the first line`,
		},
	} {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %s\nwant       %s", got, tt.want)
		}
	}
}

func TestQuoteLine(t *testing.T) {
	long := strings.Repeat("é", 200)
	got := quoteLine(long)
	if n := len([]rune(got)); n != maxQuote || !strings.HasSuffix(got, "...") {
		t.Errorf("quoteLine(200 runes) = %d runes %q, want %d ending in ...", n, got, maxQuote)
	}
	if got := quoteLine("  a \t b\n c  "); got != "a b c" {
		t.Errorf("quoteLine = %q, want %q", got, "a b c")
	}
}
