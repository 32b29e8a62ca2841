package jwt

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
)

// ClientSubvolumes are the execution and consensus clients whose subvolume
// needs its own jwt.hex when secrets/ has none (the legacy layout).
var ClientSubvolumes = []string{"erigon", "geth", "nethermind", "besu", "reth", "lighthouse", "prysm", "teku", "nimbus", "lodestar"}

// SharedPath is the copy of the current layout, which every client reads.
const SharedPath = "secrets/jwt.hex"

// Copy is one jwt.hex found on the volume. Path is relative to the
// volume's top ("secrets/jwt.hex", "erigon/jwt.hex"). A ReadErr that is
// fs.ErrNotExist counts as no copy, so callers may pass every candidate.
type Copy struct {
	Path    string
	Data    []byte
	ReadErr error
}

// Check is what CheckCopies found. It holds paths and reasons, never
// key material, so it can go into the boot report as it is.
type Check struct {
	Copies  []string         // paths of the copies found, sorted
	Invalid map[string]error // path -> why that copy is unusable (unreadable or malformed); nil when none
	Missing []string         // client subvolumes that need a copy and have none, sorted
	Problem error            // a *Error explaining everything wrong; nil when all is well
}

// CheckCopies decides whether the clients will agree on one secret:
// every copy found must be valid, all must be the same key, at least one
// must exist, and without secrets/jwt.hex every client subvolume present
// needs its own copy. clientSubvols lists the subvolumes present on the
// volume; names not in ClientSubvolumes (secrets, addons) are ignored.
func CheckCopies(copies []Copy, clientSubvols []string) Check {
	var c Check
	var problems []*Error
	keys := map[string]Secret{}
	seen := map[string]bool{}
	for _, cp := range copies {
		p := path.Clean(cp.Path)
		if errors.Is(cp.ReadErr, fs.ErrNotExist) || seen[p] {
			continue
		}
		seen[p] = true
		c.Copies = append(c.Copies, p)
		var err *Error
		if cp.ReadErr != nil {
			err = &Error{Msg: fmt.Sprintf("cannot be read: %v", cp.ReadErr)}
		} else if k, perr := Parse(cp.Data); perr != nil {
			err = perr.(*Error)
		} else {
			keys[p] = k
			continue
		}
		err.Path = p
		if c.Invalid == nil {
			c.Invalid = map[string]error{}
		}
		c.Invalid[p] = err
		problems = append(problems, err)
	}
	slices.Sort(c.Copies)
	slices.SortFunc(problems, func(a, b *Error) int { return strings.Compare(a.Path, b.Path) })

	if msg := mismatch(c.Copies, keys); msg != "" {
		problems = append(problems, &Error{Msg: msg})
	}

	if !seen[SharedPath] {
		for _, sv := range clientSubvols {
			if slices.Contains(ClientSubvolumes, sv) && !seen[sv+"/jwt.hex"] && !slices.Contains(c.Missing, sv) {
				c.Missing = append(c.Missing, sv)
			}
		}
		slices.Sort(c.Missing)
	}
	switch {
	case len(c.Copies) == 0:
		where := "secrets/"
		for _, m := range c.Missing {
			where += ", " + m + "/"
		}
		problems = append(problems, &Error{Msg: fmt.Sprintf(
			"no jwt.hex in %s: each client would silently generate its own secret, and the execution and consensus clients would then fail to talk; "+
				"create one (homestaker prepare, or `openssl rand -hex 32`) in secrets/ or in every client subvolume", where)})
	case len(c.Missing) > 0:
		var need []string
		for _, m := range c.Missing {
			need = append(need, m+"/jwt.hex")
		}
		their := "their"
		if len(c.Missing) == 1 {
			their = "its"
		}
		fix := "put the same jwt.hex there"
		for _, p := range c.Copies {
			if _, ok := keys[p]; ok {
				fix = fmt.Sprintf("copy %s there", p)
				break
			}
		}
		problems = append(problems, &Error{Msg: fmt.Sprintf(
			"%s missing, and there is no %s: %s would silently generate %s own secret, and the execution and consensus clients would then fail to talk; %s",
			andList(need), SharedPath, andList(c.Missing), their, fix)})
	}

	switch len(problems) {
	case 0:
	case 1:
		c.Problem = problems[0]
	default:
		var msgs []string
		for _, p := range problems {
			msgs = append(msgs, p.Error())
		}
		c.Problem = &Error{Msg: strings.Join(msgs, "; ")}
	}
	return c
}

// mismatch names which valid copies hold a different key from which, or
// returns "". The reference is secrets/jwt.hex when valid, since that is
// the copy the current layout's clients read; else the first path.
func mismatch(paths []string, keys map[string]Secret) string {
	var groups [][]string // paths with equal keys, in order of first path
	var reps []Secret
	ref := -1
	for _, p := range paths {
		k, ok := keys[p]
		if !ok {
			continue
		}
		i := slices.IndexFunc(reps, k.Equal)
		if i < 0 {
			i = len(reps)
			reps = append(reps, k)
			groups = append(groups, nil)
		}
		groups[i] = append(groups[i], p)
		if p == SharedPath {
			ref = i
		}
	}
	if len(groups) < 2 {
		return ""
	}
	if ref < 0 {
		ref = 0
	}
	var parts []string
	for i, g := range groups {
		if i == ref {
			continue
		}
		verb := "differs"
		if len(g) > 1 {
			verb = "differ"
		}
		parts = append(parts, fmt.Sprintf("%s %s from %s", andList(g), verb, andList(groups[ref])))
	}
	return fmt.Sprintf("the copies hold %d different secrets: %s; the execution and consensus clients must share one secret or they fail to talk; "+
		"copy one over the others, or remove the stale ones", len(groups), strings.Join(parts, "; "))
}

func andList(s []string) string {
	switch len(s) {
	case 0:
		return ""
	case 1:
		return s[0]
	}
	return strings.Join(s[:len(s)-1], ", ") + " and " + s[len(s)-1]
}
