package snapshot

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestSetNames(t *testing.T) {
	at := time.Date(2026, 12, 2, 10, 5, 0, 0, time.UTC)
	id := "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	for _, c := range []struct {
		kind, tree, id, want string
	}{
		{Before, "current", id, "20261202T100500Z-before-current-0123456789ab"},
		{Failed, "previous", id, "20261202T100500Z-failed-previous-0123456789ab"},
		{Manual, "", "", "20261202T100500Z-manual"},
		{Before, "http", "", "20261202T100500Z-before-http-unknown"},
	} {
		got := FormatName(at.In(time.FixedZone("x", 3600)), c.kind, c.tree, c.id)
		if got != c.want {
			t.Errorf("FormatName(%s, %s) = %q, want %q", c.kind, c.tree, got, c.want)
		}
		s, err := ParseName(got)
		if err != nil {
			t.Fatalf("ParseName(%q): %v", got, err)
		}
		if !s.Time.Equal(at) || s.Kind != c.kind || s.Tree != c.tree || (c.id != "" && s.Short != c.id[:12]) {
			t.Errorf("ParseName(%q) = %+v", got, s)
		}
	}
	for _, bad := range []string{"", "manual", "2026-before-current-x", "20261202T100500Z", "20261202T100500Z-before-current", "20261202T100500Z-later-current-abc", "20261202T100500Z-before--abc", "20261202T100500Z-before-a-b-c"} {
		if _, err := ParseName(bad); err == nil {
			t.Errorf("ParseName(%q) accepted", bad)
		}
	}
}

func TestTreeName(t *testing.T) {
	for in, want := range map[string]string{"/boot/current": "current", "/boot/previous/": "previous", "/boot/my-tree": "my_tree", "/": "root"} {
		if got := TreeName("volume", in); got != want {
			t.Errorf("TreeName(%q) = %q, want %q", in, got, want)
		}
		if n := FormatName(time.Now(), Before, TreeName("volume", in), "ab"); func() error { _, err := ParseName(n); return err }() != nil {
			t.Errorf("set name %q of tree %q does not parse", n, in)
		}
	}
}

func TestManifest(t *testing.T) {
	m := Manifest{Reason: "before-current", Tree: "current", Identity: "ab", Subvolumes: []string{"erigon", "lighthouse"}, Time: time.Date(2026, 12, 2, 10, 5, 0, 0, time.UTC), Version: "0.1.0-dev"}
	got, err := ParseManifest(m.Marshal())
	if err != nil || !reflect.DeepEqual(got, m) {
		t.Errorf("round trip: %+v, %v; want %+v", got, err, m)
	}
	for _, bad := range []string{`{`, `{"subvolumes":["../secrets"]}`, `{"subvolumes":[".."]}`, `{"subvolumes":[""]}`} {
		if _, err := ParseManifest([]byte(bad)); err == nil || !strings.Contains(err.Error(), ManifestFile) {
			t.Errorf("ParseManifest(%s) = %v, want an error naming %s", bad, err, ManifestFile)
		}
	}
}

func TestPrune(t *testing.T) {
	cur := "cccccccccccc0000"
	mk := func(day int, kind, tree, short string) Set {
		return Set{Name: FormatName(time.Date(2026, 12, day, 0, 0, 0, 0, time.UTC), kind, tree, short), Time: time.Date(2026, 12, day, 0, 0, 0, 0, time.UTC), Kind: kind, Tree: tree, Short: Short(short)}
	}
	sets := []Set{
		mk(5, Manual, "", ""),
		mk(1, Before, "current", cur), // the running tree's: kept however old
		mk(2, Failed, "current", "aaaaaaaaaaaa"),
		mk(3, Failed, "current", "bbbbbbbbbbbb"), // newest failed: kept
		mk(4, Before, "current", "dddddddddddd"),
		mk(6, Before, "current", "eeeeeeeeeeee"),
	}
	var got []string
	for _, s := range Prune(sets, 3, cur) {
		got = append(got, s.Name)
	}
	want := []string{sets[2].Name, sets[4].Name, sets[0].Name}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Prune = %v, want %v", got, want)
	}
	if d := Prune(sets, 10, cur); len(d) != 0 {
		t.Errorf("Prune with room for all = %v", d)
	}
	// Unknown identity of /boot/current: the newest before-current set is kept.
	for _, s := range Prune(sets, 1, "") {
		if s.Name == sets[5].Name || s.Name == sets[3].Name {
			t.Errorf("Prune deleted the protected %s", s.Name)
		}
	}
}

func TestMatchProtection(t *testing.T) {
	for _, c := range []struct {
		rel    string
		dir    bool
		client string
	}{
		{"validators/slashing_protection.sqlite", false, "Lighthouse"},
		{"mainnet/validators/slashing_protection.sqlite", false, "Lighthouse"},
		{"validators/slashing_protection.sqlite3", false, "Nimbus"},
		{"wallet/direct/validator.db", false, "Prysm"},
		{"validator/slashprotection", true, "Teku"},
		{"validator-db", true, "Lodestar"},
		{"validators/slashing_protection.sqlite-wal", false, ""}, // goes with its database
		{"slashprotection", false, ""},
		{"beacon/chain_db", true, ""},
		{"validator.db", true, ""},
	} {
		p, ok := MatchProtection(c.rel, c.dir)
		if ok != (c.client != "") || p.Client != c.client {
			t.Errorf("MatchProtection(%q, %v) = %+v, %v; want %q", c.rel, c.dir, p, ok, c.client)
		}
	}
}

func write(t *testing.T, p, s string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

func read(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		return "<" + err.Error() + ">"
	}
	return string(b)
}

func TestCarryForward(t *testing.T) {
	live, old := t.TempDir(), t.TempDir()
	write(t, live+"/beacon/db", "new beacon")
	write(t, live+"/validators/slashing_protection.sqlite", "new watermarks")
	os.Chtimes(live+"/validators/slashing_protection.sqlite", time.Unix(1e9, 0), time.Unix(1e9, 123456789))
	write(t, live+"/validators/slashing_protection.sqlite-wal", "new wal")
	write(t, live+"/teku/validator/slashprotection/0xab.yml", "new teku")
	write(t, old+"/beacon/db", "old beacon")
	write(t, old+"/validators/slashing_protection.sqlite", "old watermarks")
	write(t, old+"/validators/slashing_protection.sqlite-shm", "stale shm")
	write(t, old+"/teku/validator/slashprotection/0xcd.yml", "old teku")
	lr, _ := os.OpenRoot(live)
	or, _ := os.OpenRoot(old)
	defer lr.Close()
	defer or.Close()
	got, err := CarryForward(lr, or)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Client != "Teku" || got[1].Client != "Lighthouse" {
		t.Errorf("carried %+v", got)
	}
	for p, want := range map[string]string{
		"beacon/db":                                 "old beacon", // chain data stays restored
		"validators/slashing_protection.sqlite":     "new watermarks",
		"validators/slashing_protection.sqlite-wal": "new wal",
		"validators/slashing_protection.sqlite-shm": "<open " + old + "/validators/slashing_protection.sqlite-shm: no such file or directory>",
		"teku/validator/slashprotection/0xab.yml":   "new teku",
		"teku/validator/slashprotection/0xcd.yml":   "<open " + old + "/teku/validator/slashprotection/0xcd.yml: no such file or directory>",
	} {
		if got := read(t, filepath.Join(old, p)); got != want {
			t.Errorf("%s = %q, want %q", p, got, want)
		}
	}
	fi, err := os.Stat(old + "/validators/slashing_protection.sqlite")
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("mode not carried: %v %v", fi, err)
	}
	if li, err := os.Stat(live + "/validators/slashing_protection.sqlite"); err != nil || !li.ModTime().Equal(fi.ModTime()) {
		t.Errorf("modification time not carried: %v, live %v (%v)", fi.ModTime(), li, err)
	}
}

func TestCarryForwardRefusesLostProtection(t *testing.T) {
	live, old := t.TempDir(), t.TempDir()
	write(t, live+"/beacon/db", "new")
	write(t, old+"/validator.db", "old prysm")
	lr, _ := os.OpenRoot(live)
	or, _ := os.OpenRoot(old)
	defer lr.Close()
	defer or.Close()
	_, err := CarryForward(lr, or)
	if err == nil || !strings.Contains(err.Error(), "Prysm") || !strings.Contains(err.Error(), "older watermarks") {
		t.Errorf("CarryForward = %v, want a refusal naming Prysm's validator.db", err)
	}
	if read(t, old+"/validator.db") != "old prysm" {
		t.Error("refusal changed the snapshot")
	}
}

func TestLastBooted(t *testing.T) {
	top := t.TempDir()
	if lb, err := ReadLastBooted(top); err != nil || lb != (LastBooted{}) {
		t.Errorf("no file: %+v, %v", lb, err)
	}
	want := LastBooted{Identity: strings.Repeat("ab", 32), Tree: "current"}
	if err := WriteLastBooted(top, want); err != nil {
		t.Fatal(err)
	}
	if lb, err := ReadLastBooted(top); err != nil || lb != want {
		t.Errorf("ReadLastBooted = %+v, %v", lb, err)
	}
	for _, bad := range []string{"", "abc current", strings.Repeat("g", 64) + " current", strings.Repeat("a", 64)} {
		if _, err := ParseLastBooted([]byte(bad)); err == nil || !strings.Contains(err.Error(), LastBootedFile) {
			t.Errorf("ParseLastBooted(%q) = %v", bad, err)
		}
	}
}
