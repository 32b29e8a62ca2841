// Package report holds the boot report (what every stage found, saved as
// JSON for the operator and for the next stage) and the one error shape
// that reaches the operator: stage, expected, found, what to do.
package report

import "fmt"

// Failure is an error an operator can act on. Found must never quote a
// secret: callers describe a bad key by its file and line, not its value.
type Failure struct {
	Stage    string `json:"stage"`
	Expected string `json:"expected"`
	Found    string `json:"found"`
	Action   string `json:"action"`
}

// Fail returns a Failure; the stage runner fills in the stage.
func Fail(expected, found, action string) *Failure {
	return &Failure{Expected: expected, Found: found, Action: action}
}

func (f *Failure) Error() string {
	s := fmt.Sprintf("expected %s, found %s", f.Expected, f.Found)
	if f.Stage != "" {
		s = f.Stage + ": " + s
	}
	if f.Action != "" {
		s += "; " + f.Action
	}
	return s
}
