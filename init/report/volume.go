package report

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/homestaker/homestaker-boot/init/atomicfile"
)

// Keep is how many boot reports stay on the volume.
const Keep = 10

// SaveNumbered writes the report into d (on the volume, reached without
// following a link) as the next NNNNNN.json after the highest one there
// (the clock may be wrong at boot, a counter is not), atomically and
// fsynced, deletes all but the newest keep and fsyncs the directory. It
// returns the new file's name.
func (r *Report) SaveNumbered(d *atomicfile.Dir, keep int) (string, error) {
	names, err := d.Names()
	if err != nil {
		return "", fmt.Errorf("boot reports directory %s: %v", d.Path(), err)
	}
	nums := numbered(names)
	next := 1
	if len(nums) > 0 {
		next = nums[len(nums)-1] + 1
	}
	name := fmt.Sprintf("%06d.json", next)
	if err := r.SaveIn(d, name); err != nil {
		return "", err
	}
	nums = append(nums, next)
	for len(nums) > keep {
		_ = d.Remove(fmt.Sprintf("%06d.json", nums[0]))
		nums = nums[1:]
	}
	_ = d.Sync() // best effort: the read-only remount after the write syncs too
	return name, nil
}

// SaveIn writes the report as name in d, atomically and fsynced.
func (r *Report) SaveIn(d *atomicfile.Dir, name string) error {
	b, err := r.JSON()
	if err != nil {
		return fmt.Errorf("encoding boot report: %v", err)
	}
	if err := d.WriteFile(name, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("boot report: %v", err)
	}
	return nil
}

// numbered lists the report numbers in dir, ascending.
func numbered(names []string) []int {
	var nums []int
	for _, n := range names {
		base, ok := strings.CutSuffix(n, ".json")
		if n, err := strconv.Atoi(base); ok && err == nil && len(base) == 6 {
			nums = append(nums, n)
		}
	}
	sort.Ints(nums)
	return nums
}
