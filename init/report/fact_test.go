package report

import "testing"

func TestSetFact(t *testing.T) {
	r := &Report{}
	r.SetFact("network", "lease", 1) // not recorded yet: nothing
	if len(r.Stages) != 0 {
		t.Fatalf("a stage appeared: %+v", r.Stages)
	}
	old := map[string]any{"lease": 1, "links": 2}
	r.Add(Stage{Name: "network", Facts: old})
	r.SetFact("network", "lease", 3)
	s, _ := r.Stage("network")
	if s.Facts["lease"] != 3 || s.Facts["links"] != 2 {
		t.Errorf("facts %v", s.Facts)
	}
	if old["lease"] != 1 {
		t.Errorf("the record's map was changed in place: %v", old)
	}
}
