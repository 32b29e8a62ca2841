package snapshot

import (
	"os"
	"path"
	"strings"

	"github.com/homestaker/homestaker-boot/init/verify"
	"github.com/homestaker/homestaker-boot/init/volfile"
)

// TreeIdentityOnVolume is the identity (verify.TreeIdentity) of the tree
// at dir on the volume whose top level is mounted at top, from the tree's
// SHA256SUMS, which install-next always writes; "" when it has none, and
// such a tree is then known by its name only. dir is volume-absolute
// ("/boot/current") or relative to the top level ("boot/current").
func TreeIdentityOnVolume(top, dir string) string {
	root, err := os.OpenRoot(top)
	if err != nil {
		return ""
	}
	defer root.Close()
	rel := path.Join(strings.TrimPrefix(path.Clean(dir), "/"), verify.SumsFile)
	b, err := volfile.ReadFile(root, rel, path.Join(top, rel), 1<<20)
	if err != nil {
		return ""
	}
	id, _ := verify.TreeIdentity(b, nil)
	return id
}
