package report

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/homestaker/homestaker-boot/init/atomicfile"
)

func TestSaveNumberedKeepsTheNewest(t *testing.T) {
	top := t.TempDir()
	dir := filepath.Join(top, "boot", "reports")
	d, err := atomicfile.OpenDir(top, "boot/reports", true, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	r := &Report{Version: "test"}
	for i := 1; i <= 13; i++ {
		name, err := r.SaveNumbered(d, 10)
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("%06d.json", i); name != want {
			t.Fatalf("report %d saved as %s, want %s", i, name, want)
		}
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 10 || ents[0].Name() != "000004.json" || ents[9].Name() != "000013.json" {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Fatalf("kept %v, want 000004..000013", names)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "000013.json"))
	var back Report
	if err := json.Unmarshal(b, &back); err != nil || back.Version != "test" {
		t.Fatalf("saved report does not read back: %v %q", err, b)
	}
}
