package handover

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPermissionActionNamesTheSysctl(t *testing.T) {
	t.Parallel()
	sysctl := filepath.Join(t.TempDir(), "kexec_load_disabled")
	os.WriteFile(sysctl, []byte("1\n"), 0o644)
	if a := permissionAction(sysctl); !strings.Contains(a, "kexec_load_disabled=1") || !strings.Contains(a, "homestaker.handover=switchroot") {
		t.Errorf("with the sysctl set: %q", a)
	}
	os.WriteFile(sysctl, []byte("0\n"), 0o644)
	if a := permissionAction(sysctl); a != actionSign {
		t.Errorf("without the sysctl: %q, want the lockdown advice", a)
	}
}
