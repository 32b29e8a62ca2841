package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/homestaker/homestaker-boot/init/config"
	"github.com/homestaker/homestaker-boot/init/fetch"
	"github.com/homestaker/homestaker-boot/init/nextstage"
	"github.com/homestaker/homestaker-boot/init/plan"
	"github.com/homestaker/homestaker-boot/init/storage"
	"github.com/homestaker/homestaker-boot/init/verify"
)

// nextstageNeeds lists what the next stage's sources need.
func (b *boot) nextstageNeeds() []string {
	after := []string{"early"}
	for _, src := range b.cfg.Next {
		switch src.Kind {
		case config.SourceVolume:
			after = append(after, "storage")
		case config.SourceHTTP:
			after = append(after, "network", "wireguard")
		}
	}
	return after
}

func (b *boot) nextstage(ctx context.Context, rec *plan.Record) error {
	keys, errs := verify.LoadTrustedKeys(trustedKeysDir)
	for _, err := range errs {
		rec.Warn("trusted key: %v", err)
	}
	env := nextstage.Env{Mode: b.cfg.Verify, Keys: keys, TmpDir: "/run/homestaker", Tries: b.cfg.Tries}
	if b.volume != nil {
		env.Volume = storage.TopLevel
	}
	if b.netw != nil {
		client, err := fetch.Client(caBundle)
		if err != nil {
			rec.Warn("%v", err)
		}
		env.HTTP = client
		env.Progress = func(p fetch.Progress) { rec.Printf("%s", p) }
	}
	var refused []string
	next, err := nextstage.Locate(ctx, b.cfg.Next, env, func(src config.Source, err error) {
		refused = append(refused, fmt.Sprintf("%s refused (%v)", src, err))
		rec.Warn("%s refused: %v", src, err)
	})
	if err != nil {
		return err
	}
	b.next = next
	if len(refused) > 0 {
		rec.Warn("%s, booting %s", strings.Join(refused, ", "), next.Source)
		rec.Fact("refused", refused)
	}
	if w := next.Verified.Warning; w != "" {
		rec.Warn("%s", w)
	}
	rec.Fact("source", next.Source.String())
	rec.Fact("tree", next.Tree)
	rec.Fact("verified", next.Verified)
	how := next.Verified.Mode
	if next.Verified.Signer != "" {
		how += " by key " + next.Verified.Signer
	}
	counted := ""
	if next.Count != nil {
		counted = fmt.Sprintf(", boot %d of %d without a success mark", next.Count.Count+1, b.cfg.Tries)
		rec.Fact("boot_count", next.Count.Count+1)
	}
	rec.Summary("%s: %s from %s, verified: %s%s", next.Source, next.Tree.Kernel, next.Tree.From, how, counted)
	return nil
}
