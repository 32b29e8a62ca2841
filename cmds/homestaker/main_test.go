package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestUsageAndExitStatus(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		code int
		out  string
	}{
		{nil, exitUsage, "usage:"},
		{[]string{"--help"}, exitOK, "homestaker check"},
		{[]string{"version"}, exitOK, "homestaker " + version},
		{[]string{"frobnicate"}, exitUsage, `unknown command "frobnicate"`},
	} {
		var out, errb bytes.Buffer
		code := run(testHost(t), tc.args, &out, &errb)
		if code != tc.code || !strings.Contains(out.String()+errb.String(), tc.out) {
			t.Errorf("run(%q) = %d, %q%q; want %d and %q", tc.args, code, out.String(), errb.String(), tc.code, tc.out)
		}
	}
}
