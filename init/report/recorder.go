package report

// Recorder is what a stage package reports through while it runs: progress
// lines, warnings, facts for the report and the stage's summary. The plan's
// Record implements it for the init; tests and the CLI pass their own.
type Recorder interface {
	Printf(format string, args ...any) // a progress line
	Warn(format string, args ...any)   // a warning; the stage may still succeed
	Fact(key string, value any)        // something found, for the report; never a secret
	Summary(format string, args ...any)
}

// Discard is a Recorder that keeps nothing.
var Discard Recorder = discard{}

type discard struct{}

func (discard) Printf(string, ...any)  {}
func (discard) Warn(string, ...any)    {}
func (discard) Fact(string, any)       {}
func (discard) Summary(string, ...any) {}
