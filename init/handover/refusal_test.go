package handover

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPermissionActionNamesTheSysctl(t *testing.T) {
	defer func(p string) { disabledPath = p }(disabledPath)
	disabledPath = filepath.Join(t.TempDir(), "kexec_load_disabled")
	os.WriteFile(disabledPath, []byte("1\n"), 0o644)
	if a := permissionAction(); !strings.Contains(a, "kexec_load_disabled=1") || !strings.Contains(a, "homestaker.handover=switchroot") {
		t.Errorf("with the sysctl set: %q", a)
	}
	os.WriteFile(disabledPath, []byte("0\n"), 0o644)
	if a := permissionAction(); a != actionSign {
		t.Errorf("without the sysctl: %q, want the lockdown advice", a)
	}
}
