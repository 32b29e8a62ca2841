package report

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/homestaker/homestaker-boot/init/atomicfile"
)

// Keep is how many boot reports stay on the volume.
const Keep = 10

// SaveNumbered writes the report into dir as the next NNNNNN.json after the
// highest one there (the clock may be wrong at boot, a counter is not),
// atomically and fsynced, deletes all but the newest keep and fsyncs the
// directory. It returns the new file's name.
func (r *Report) SaveNumbered(dir string, keep int) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("boot reports directory: %v", err)
	}
	nums := numbered(dir)
	next := 1
	if len(nums) > 0 {
		next = nums[len(nums)-1] + 1
	}
	name := fmt.Sprintf("%06d.json", next)
	b, err := r.JSON()
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, name)
	if err := atomicfile.Replace(path, append(b, '\n'), 0o644); err != nil {
		return "", fmt.Errorf("boot report: %v", err)
	}
	nums = append(nums, next)
	for len(nums) > keep {
		_ = os.Remove(filepath.Join(dir, fmt.Sprintf("%06d.json", nums[0])))
		nums = nums[1:]
	}
	_ = atomicfile.SyncDir(dir) // best effort: the read-only remount after the write syncs too
	return name, nil
}

// numbered lists the report numbers in dir, ascending.
func numbered(dir string) []int {
	ents, _ := os.ReadDir(dir)
	var nums []int
	for _, e := range ents {
		base, ok := strings.CutSuffix(e.Name(), ".json")
		if n, err := strconv.Atoi(base); ok && err == nil && len(base) == 6 {
			nums = append(nums, n)
		}
	}
	sort.Ints(nums)
	return nums
}
