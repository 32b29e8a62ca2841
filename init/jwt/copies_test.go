package jwt

import (
	"errors"
	"io/fs"
	"reflect"
	"strings"
	"testing"
)

const otherHex = "9f0c2e7a11d54b3c8e6f0a2b4d6c8e0f1a3b5c7d9e1f2a4b6c8d0e2f4a6b8c0d"

func TestCheckCopies(t *testing.T) {
	key := []byte(testHex + "\n")
	key0x := []byte("0x" + testHex) // same key, other spelling: equal after parsing
	other := []byte(otherHex + "\n")
	eio := errors.New("read erigon/jwt.hex: input/output error")
	legacy := []string{"secrets", "erigon", "lighthouse"}

	for _, c := range []struct {
		name     string
		copies   []Copy
		subvols  []string
		copiesOK []string
		missing  []string
		invalid  []string
		want     []string // substrings of the problem; nil = no problem
	}{
		{
			name:     "legacy layout, equal copies",
			copies:   []Copy{{Path: "lighthouse/jwt.hex", Data: key0x}, {Path: "erigon/jwt.hex", Data: key}},
			subvols:  legacy,
			copiesOK: []string{"erigon/jwt.hex", "lighthouse/jwt.hex"},
		},
		{
			name:     "current layout, secrets only",
			copies:   []Copy{{Path: "secrets/jwt.hex", Data: key}},
			subvols:  []string{"secrets", "erigon", "lighthouse", "addons"},
			copiesOK: []string{"secrets/jwt.hex"},
		},
		{
			name:     "current layout with equal client copies",
			copies:   []Copy{{Path: "secrets/jwt.hex", Data: key}, {Path: "erigon/jwt.hex", Data: key0x}},
			subvols:  legacy,
			copiesOK: []string{"erigon/jwt.hex", "secrets/jwt.hex"},
		},
		{
			name: "absent candidates are no copies",
			copies: []Copy{{Path: "secrets/jwt.hex", ReadErr: fs.ErrNotExist},
				{Path: "erigon/jwt.hex", Data: key}, {Path: "lighthouse/jwt.hex", Data: key}},
			subvols:  legacy,
			copiesOK: []string{"erigon/jwt.hex", "lighthouse/jwt.hex"},
		},
		{
			name:     "legacy, lighthouse copy missing",
			copies:   []Copy{{Path: "erigon/jwt.hex", Data: key}},
			subvols:  legacy,
			copiesOK: []string{"erigon/jwt.hex"},
			missing:  []string{"lighthouse"},
			want:     []string{"lighthouse/jwt.hex missing", "no secrets/jwt.hex", "lighthouse would silently generate its own secret", "fail to talk", "copy erigon/jwt.hex there"},
		},
		{
			name:     "geth and prysm subvolumes, one copy",
			copies:   []Copy{{Path: "prysm/jwt.hex", Data: key}},
			subvols:  []string{"secrets", "geth", "prysm", "addons"},
			copiesOK: []string{"prysm/jwt.hex"},
			missing:  []string{"geth"},
			want:     []string{"geth/jwt.hex missing"},
		},
		{
			name:    "no copy at all",
			subvols: legacy,
			missing: []string{"erigon", "lighthouse"},
			want:    []string{"no jwt.hex in secrets/, erigon/, lighthouse/", "silently generate its own secret", "fail to talk"},
		},
		{
			name:    "no copy, no client subvolume",
			subvols: []string{"secrets"},
			want:    []string{"no jwt.hex in secrets/"},
		},
		{
			name:     "legacy mismatch",
			copies:   []Copy{{Path: "erigon/jwt.hex", Data: key}, {Path: "lighthouse/jwt.hex", Data: other}},
			subvols:  legacy,
			copiesOK: []string{"erigon/jwt.hex", "lighthouse/jwt.hex"},
			want:     []string{"2 different secrets", "lighthouse/jwt.hex differs from erigon/jwt.hex"},
		},
		{
			name:     "secrets and a stale erigon copy",
			copies:   []Copy{{Path: "erigon/jwt.hex", Data: other}, {Path: "secrets/jwt.hex", Data: key}},
			subvols:  legacy,
			copiesOK: []string{"erigon/jwt.hex", "secrets/jwt.hex"},
			want:     []string{"erigon/jwt.hex differs from secrets/jwt.hex"},
		},
		{
			name: "three copies, two agree",
			copies: []Copy{{Path: "secrets/jwt.hex", Data: key}, {Path: "erigon/jwt.hex", Data: key0x},
				{Path: "lighthouse/jwt.hex", Data: other}},
			subvols:  legacy,
			copiesOK: []string{"erigon/jwt.hex", "lighthouse/jwt.hex", "secrets/jwt.hex"},
			want:     []string{"lighthouse/jwt.hex differs from erigon/jwt.hex and secrets/jwt.hex"},
		},
		{
			name:     "read error",
			copies:   []Copy{{Path: "erigon/jwt.hex", ReadErr: eio}, {Path: "lighthouse/jwt.hex", Data: key}},
			subvols:  legacy,
			copiesOK: []string{"erigon/jwt.hex", "lighthouse/jwt.hex"},
			invalid:  []string{"erigon/jwt.hex"},
			want:     []string{"erigon/jwt.hex: cannot be read", "input/output error"},
		},
		{
			name:     "malformed copy",
			copies:   []Copy{{Path: "erigon/jwt.hex", Data: []byte(testHex[:63])}, {Path: "lighthouse/jwt.hex", Data: key}},
			subvols:  legacy,
			copiesOK: []string{"erigon/jwt.hex", "lighthouse/jwt.hex"},
			invalid:  []string{"erigon/jwt.hex"},
			want:     []string{"erigon/jwt.hex: has 63 hex digits, want 64"},
		},
		{
			name: "several problems at once",
			copies: []Copy{{Path: "erigon/jwt.hex", Data: []byte(" " + testHex)},
				{Path: "geth/jwt.hex", Data: key}, {Path: "lighthouse/jwt.hex", Data: other}},
			subvols:  []string{"erigon", "geth", "lighthouse", "teku"},
			copiesOK: []string{"erigon/jwt.hex", "geth/jwt.hex", "lighthouse/jwt.hex"},
			invalid:  []string{"erigon/jwt.hex"},
			missing:  []string{"teku"},
			want:     []string{"erigon/jwt.hex: starts with whitespace", "lighthouse/jwt.hex differs from geth/jwt.hex", "teku/jwt.hex missing"},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := CheckCopies(c.copies, c.subvols)
			if !reflect.DeepEqual(got.Copies, c.copiesOK) {
				t.Errorf("Copies = %q, want %q", got.Copies, c.copiesOK)
			}
			if !reflect.DeepEqual(got.Missing, c.missing) {
				t.Errorf("Missing = %q, want %q", got.Missing, c.missing)
			}
			var invalid []string
			for p, err := range got.Invalid {
				invalid = append(invalid, p)
				if _, ok := err.(*Error); !ok {
					t.Errorf("Invalid[%s] is a %T, want *Error", p, err)
				}
			}
			if !reflect.DeepEqual(invalid, c.invalid) {
				t.Errorf("Invalid = %v, want %q", got.Invalid, c.invalid)
			}
			if c.want == nil {
				if got.Problem != nil {
					t.Fatalf("Problem = %v", got.Problem)
				}
				return
			}
			if _, ok := got.Problem.(*Error); !ok {
				t.Fatalf("Problem = %v (%T), want a *Error", got.Problem, got.Problem)
			}
			msg := got.Problem.Error()
			for _, w := range c.want {
				if !strings.Contains(msg, w) {
					t.Errorf("Problem = %q\nwant it to contain %q", msg, w)
				}
			}
			for _, h := range []string{testHex, otherHex} {
				if leak := leakedRun(h, msg); leak != "" {
					t.Errorf("Problem quotes %q of a key", leak)
				}
			}
		})
	}
}
