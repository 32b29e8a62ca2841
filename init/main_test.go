package main

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/homestaker/homestaker-boot/init/config"
	"github.com/homestaker/homestaker-boot/init/console"
	"github.com/homestaker/homestaker-boot/init/netup"
	"github.com/homestaker/homestaker-boot/init/plan"
	"github.com/homestaker/homestaker-boot/init/report"
	"github.com/homestaker/homestaker-boot/init/storage"
)

// The boot plan's wiring, under -race: every stage body is a fake that
// writes the state its real one writes, except that the nextstage stage
// builds its sources' environment with the real code. A source list that
// reads another stage's state without waiting for it is a data race.
func TestPlanOrdersWhatNextstageReads(t *testing.T) {
	for _, next := range []string{
		"initramfs:/next",
		"volume:/boot/current,volume:/boot/previous",
		"http://10.99.0.1/tree/",
		"initramfs:/next,volume:/boot/current",
	} {
		t.Run(next, func(t *testing.T) {
			cfg, problems := config.Parse("homestaker.next="+next, config.Defaults())
			if len(problems) > 0 {
				t.Fatal(problems)
			}
			con := console.New(io.Discard, nil)
			b := &boot{cfg: cfg, con: con, rep: &report.Report{}}
			stages := b.plan(nil, nil)
			var env struct{ volume, http bool }
			fakes := map[string]func(ctx context.Context, rec *plan.Record) error{
				"network": func(context.Context, *plan.Record) error {
					b.netw = &netup.State{}
					return nil
				},
				"storage": func(context.Context, *plan.Record) error {
					b.volume = &storage.Volume{}
					return nil
				},
				"nextstage": func(_ context.Context, rec *plan.Record) error {
					e := b.sourceEnv(rec)
					env.volume, env.http = e.Volume != "", e.HTTP != nil
					return nil
				},
			}
			for i := range stages {
				if f, ok := fakes[stages[i].Name]; ok {
					stages[i].Run = f
				} else {
					stages[i].Run = func(context.Context, *plan.Record) error { return nil }
				}
			}
			r := &plan.Runner{Console: con, Report: b.rep, Uptime: func() time.Duration { return 0 }}
			if f := r.Run(context.Background(), stages); f != nil {
				t.Fatalf("the plan failed: %+v", f)
			}
			need := nextstageNeeds(cfg)
			if env.volume != need.volume || env.http != need.network {
				t.Errorf("the sources got volume %v, http %v; they need volume %v, network %v", env.volume, env.http, need.volume, need.network)
			}
		})
	}
}

// Every stage that reads the volume or the network is bounded: a file
// that blocks must not hang the boot. nextstage is bounded source by
// source instead (see the plan); snapshot never fails the boot, and a
// timeout would abandon a rollback between its steps.
func TestPlanStagesAreBounded(t *testing.T) {
	cfg, _ := config.Parse("homestaker.timeout.secrets=7", config.Defaults())
	b := &boot{cfg: cfg}
	for _, s := range b.plan(nil, nil) {
		switch s.Name {
		case "early", "nextstage", "snapshot", "handover":
			continue
		}
		if s.Timeout <= 0 || s.TimeoutKey == "" {
			t.Errorf("stage %s has no timeout", s.Name)
		}
		if s.Name == "secrets" && (s.Timeout != 7*time.Second || s.TimeoutKey != "homestaker.timeout.secrets") {
			t.Errorf("secrets: timeout %s (%s), want 7s from homestaker.timeout.secrets", s.Timeout, s.TimeoutKey)
		}
	}
}
