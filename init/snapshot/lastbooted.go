package snapshot

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"

	"github.com/homestaker/homestaker-boot/init/atomicfile"
	"github.com/homestaker/homestaker-boot/init/volfile"
)

// LastBootedFile, on the top level, holds the identity and name of the
// tree the init last handed over to: a tree of another identity boots
// for the first time.
const LastBootedFile = "boot/last-booted"

// LastBooted is LastBootedFile's content.
type LastBooted struct {
	Identity string
	Tree     string
}

// ParseLastBooted reads "IDENTITY TREE\n".
func ParseLastBooted(b []byte) (LastBooted, error) {
	f := strings.Fields(string(b))
	if len(f) != 2 || len(f[0]) != 64 || strings.Trim(f[0], "0123456789abcdef") != "" {
		return LastBooted{}, fmt.Errorf("%s holds %q, not a tree's identity and name; delete it (the next boot then takes a snapshot)", LastBootedFile, strings.TrimSpace(string(b)))
	}
	return LastBooted{Identity: f[0], Tree: f[1]}, nil
}

// ReadLastBooted reads LastBootedFile under top; none is the zero value.
func ReadLastBooted(top string) (LastBooted, error) {
	root, err := os.OpenRoot(top)
	if err != nil {
		return LastBooted{}, err
	}
	defer root.Close()
	b, err := volfile.ReadFile(root, LastBootedFile, path.Join(top, LastBootedFile), 256)
	if errors.Is(err, fs.ErrNotExist) {
		return LastBooted{}, nil
	}
	if err != nil {
		return LastBooted{}, err
	}
	return ParseLastBooted(b)
}

// WriteLastBooted replaces LastBootedFile under top (mounted writable).
func WriteLastBooted(top string, lb LastBooted) error {
	d, err := atomicfile.OpenDir(top, path.Dir(LastBootedFile), true, 0o755)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.WriteFile(path.Base(LastBootedFile), []byte(lb.Identity+" "+lb.Tree+"\n"), 0o644)
}
