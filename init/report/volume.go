package report

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Keep is how many boot reports stay on the volume.
const Keep = 10

// SaveNumbered writes the report into dir as the next NNNNNN.json after the
// highest one there (the clock may be wrong at boot, a counter is not),
// fsyncs it and the directory, and deletes all but the newest keep. It
// returns the new file's name.
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
	if err := writeSynced(path, append(b, '\n')); err != nil {
		return "", err
	}
	nums = append(nums, next)
	for len(nums) > keep {
		_ = os.Remove(filepath.Join(dir, fmt.Sprintf("%06d.json", nums[0])))
		nums = nums[1:]
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
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

func writeSynced(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("writing boot report %s: %v", path, err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("writing boot report %s: %v", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("writing boot report %s: %v", path, err)
	}
	return f.Close()
}
