package report

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/homestaker/homestaker-boot/init/atomicfile"
)

// Path is where the init keeps the report while it runs.
const Path = "/run/homestaker/report.json"

// Status of a stage.
type Status string

const (
	OK      Status = "ok"
	Warning Status = "warning"
	Failed  Status = "failed"
	Skipped Status = "skipped"
)

// Stage is one stage's record.
type Stage struct {
	Name     string         `json:"name"`
	Status   Status         `json:"status"`
	Start    time.Duration  `json:"start_ns"` // since kernel start
	Duration time.Duration  `json:"duration_ns"`
	Summary  string         `json:"summary,omitempty"`
	Facts    map[string]any `json:"facts,omitempty"`
	Warnings []string       `json:"warnings,omitempty"`
	Failure  *Failure       `json:"failure,omitempty"`
	// Attempt counts runs of the stage after the first (`homestaker retry`).
	Attempt int `json:"attempt,omitempty"`
}

// Report is the whole boot's record. Methods are safe for concurrent use.
type Report struct {
	mu      sync.Mutex // guards everything below
	Version string     `json:"version"`
	Kernel  string     `json:"kernel"`
	Cmdline string     `json:"cmdline"`
	Stages  []Stage    `json:"stages"`
	Result  Status     `json:"result,omitempty"`
	Failure *Failure   `json:"failure,omitempty"`
}

// Add records a finished stage. A stage run again (a retry) replaces its
// earlier record and counts the attempt.
func (r *Report) Add(s Stage) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, old := range r.Stages {
		if old.Name == s.Name {
			s.Attempt = old.Attempt + 1
			r.Stages[i] = s
			return
		}
	}
	r.Stages = append(r.Stages, s)
}

// Summary is one line per stage: status, name and summary, for a rescue
// login.
func (r *Report) Summary() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	for _, s := range r.Stages {
		what := s.Summary
		if s.Failure != nil {
			what = s.Failure.Found
		}
		fmt.Fprintf(&b, "  %-8s %-10s %s\n", s.Status, s.Name, strings.ReplaceAll(what, "\n", "; "))
	}
	return b.String()
}

// Failed is the failure Finish recorded, or nil.
func (r *Report) Failed() *Failure {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.Failure
}

// Finish records the outcome of the whole boot.
func (r *Report) Finish(result Status, f *Failure) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Result, r.Failure = result, f
}

// Stage returns a copy of the named stage's record.
func (r *Report) Stage(name string) (Stage, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.Stages {
		if s.Name == name {
			return s, true
		}
	}
	return Stage{}, false
}

// JSON renders the report.
func (r *Report) JSON() ([]byte, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return json.MarshalIndent(r, "", "  ")
}

// Save writes the report to path atomically, so a reader (the operator's
// shell, the next stage) never sees half a file. The directory is not
// fsynced: /run is memory, and on the volume the read-only remount that
// follows the write commits it.
func (r *Report) Save(path string) error {
	b, err := r.JSON()
	if err != nil {
		return fmt.Errorf("encoding boot report: %v", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("boot report directory: %v", err)
	}
	if err := atomicfile.Replace(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("boot report: %v", err)
	}
	return nil
}
