package report

// SetFact sets a fact of a finished stage's record: what changes after
// the stage ended (a renewed DHCP lease) while the boot waits. A stage not
// recorded (yet) is left alone.
func (r *Report) SetFact(stage, key string, value any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range r.Stages {
		if r.Stages[i].Name != stage {
			continue
		}
		facts := make(map[string]any, len(r.Stages[i].Facts)+1)
		for k, v := range r.Stages[i].Facts {
			facts[k] = v
		}
		facts[key] = value
		r.Stages[i].Facts = facts
		return
	}
}
