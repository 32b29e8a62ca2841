package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/homestaker/homestaker-boot/init/atomicfile"
	"github.com/homestaker/homestaker-boot/init/bootcount"
	"github.com/homestaker/homestaker-boot/init/config"
	"github.com/homestaker/homestaker-boot/init/fetch"
	"github.com/homestaker/homestaker-boot/init/nextstage"
	"github.com/homestaker/homestaker-boot/init/plan"
	"github.com/homestaker/homestaker-boot/init/storage"
	"github.com/homestaker/homestaker-boot/init/verify"
)

// sourceNeeds is what the next stage's sources need, from the
// configuration alone. The plan orders the nextstage stage after exactly
// these stages, and the stage reads the state of exactly these: reading
// the volume or the network while its stage still runs would race with it
// (an initramfs: source needs neither and starts right after early).
type sourceNeeds struct{ volume, network bool }

func nextstageNeeds(cfg config.Config) sourceNeeds {
	var n sourceNeeds
	for _, src := range cfg.Next {
		switch src.Kind {
		case config.SourceVolume:
			n.volume = true
		case config.SourceHTTP:
			n.network = true
		}
	}
	return n
}

// after is the nextstage stage's After list.
func (n sourceNeeds) after() []string {
	after := []string{"early"}
	if n.volume {
		after = append(after, "storage")
	}
	if n.network {
		after = append(after, "network", "wireguard")
	}
	return after
}

// sourceEnv is what the sources are located with: the trusted keys, and
// the volume and the network when the sources need them.
func (b *boot) sourceEnv(rec *plan.Record) nextstage.Env {
	keys, errs := verify.LoadTrustedKeys(trustedKeysDir)
	for _, err := range errs {
		rec.Warn("trusted key: %v", err)
	}
	env := nextstage.Env{Mode: b.cfg.Verify, Keys: keys, TmpDir: "/run/homestaker", Tries: b.cfg.Tries}
	need := nextstageNeeds(b.cfg)
	if need.volume && b.volume != nil {
		env.Volume = storage.TopLevel
		env.Count = func(src config.Source, s bootcount.State) (bool, error) { return b.countBoot(rec, src, s) }
	}
	if need.network && b.netw != nil {
		client, err := fetch.Client(caBundle)
		if err != nil {
			rec.Warn("%v", err)
		}
		env.HTTP = client
		env.Progress = func(p fetch.Progress) { rec.Printf("%s", p) }
		if b.tunnel != nil {
			env.ThroughTunnel, env.TunnelDevice = b.tunnel.Carries, b.tunnel.Name()
		}
	}
	return env
}

func (b *boot) nextstage(ctx context.Context, rec *plan.Record) error {
	if b.next != nil {
		// A retry: the files are opened and verified again.
		b.next.Close()
		b.next = nil
	}
	env := b.sourceEnv(rec)
	var refused []string
	b.passedOver = nil
	next, err := nextstage.Locate(ctx, b.cfg.Next, env, func(src config.Source, err error) {
		var po *nextstage.PassedOver
		if errors.As(err, &po) {
			b.passedOver = append(b.passedOver, po)
		}
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
	how := next.Verified.Established()
	counted := ""
	if next.Count != nil {
		counted = fmt.Sprintf(", boot %d of %d without a success mark", next.Count.Count, b.cfg.Tries)
		rec.Fact("boot_count", next.Count.Count)
	}
	rec.Summary("%s: %s from %s, verified: %s%s", next.Source, next.Tree.Kernel, next.Tree.From, how, counted)
	return nil
}

// countBoot counts this boot of a volume tree when the tree is chosen,
// before its files are read, durably: a tree that hangs the boot or kills
// the init is counted too. A retry of the same boot counts it once.
func (b *boot) countBoot(rec *plan.Record, src config.Source, s bootcount.State) (bool, error) {
	if b.counted[src.Path] {
		return false, nil
	}
	var n int
	err := b.volume.WritableTopLevel(func(top string) error {
		d, err := atomicfile.OpenDir(top, src.Path, false, 0)
		if err != nil {
			return err
		}
		defer d.Close()
		n, err = bootcount.Increment(d, s)
		return err
	})
	if err != nil {
		return false, err
	}
	if b.counted == nil {
		b.counted = map[string]bool{}
	}
	b.counted[src.Path] = true
	rec.Printf("boot %d of %d of %s; HomestakerOS marks it good with %s/%s", n, b.cfg.Tries, src.Path, src.Path, bootcount.SuccessFile)
	return true, nil
}
