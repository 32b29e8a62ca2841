package report

import (
	"strings"
	"testing"
)

func TestAddReplacesARetriedStage(t *testing.T) {
	var r Report
	r.Add(Stage{Name: "storage", Status: OK, Summary: "mounted"})
	r.Add(Stage{Name: "secrets", Status: Failed, Summary: "no JWT"})
	r.Add(Stage{Name: "secrets", Status: OK, Summary: "checked"})
	if len(r.Stages) != 2 || r.Stages[1].Status != OK || r.Stages[1].Attempt != 1 {
		t.Fatalf("stages = %+v", r.Stages)
	}
	if got := r.Summary(); !strings.Contains(got, "ok       secrets    checked") || !strings.Contains(got, "storage") {
		t.Errorf("Summary = %q", got)
	}
}
