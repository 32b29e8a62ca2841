package fetch

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
)

// Small GETs a small file (kexec-boot, SHA256SUMS, SHA256SUMS.minisig) into
// memory, retrying like File until ctx ends. A body larger than limit bytes
// is an error. A 404 or 410 is an error wrapping fs.ErrNotExist, returned
// at once, so that the caller can tell "absent" from a failure.
func Small(ctx context.Context, c *http.Client, url string, limit int64) ([]byte, error) {
	return newFetcher(c).small(ctx, url, limit)
}

func (f *fetcher) small(ctx context.Context, url string, limit int64) ([]byte, error) {
	shown := Redact(url)
	var body []byte
	err := f.retry(ctx, shown, func(ctx context.Context) (bool, error) {
		b, err := f.getSmall(ctx, url, limit)
		if err != nil {
			return false, err
		}
		body = b
		return true, nil
	}, nil)
	if err != nil {
		return nil, err
	}
	return body, nil
}

func (f *fetcher) getSmall(ctx context.Context, url string, limit int64) ([]byte, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req, err := newGet(ctx, url)
	if err != nil {
		return nil, err
	}
	resp, err := f.c.Do(req)
	if err != nil {
		return nil, transportFailure(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, statusFailure(resp)
	}
	tooLarge := permanent(fmt.Errorf("larger than the %s allowed for this file", formatSize(float64(limit))),
		"check that the URL names a kexec tree: this file is expected to be small")
	if resp.ContentLength > limit {
		return nil, tooLarge
	}
	watch := watchStall(f.stallTimeout, cancel)
	defer watch.stop()
	read := limit
	if read < math.MaxInt64 {
		read++ // one more byte tells "too large" from "exactly limit"
	}
	b, err := io.ReadAll(io.LimitReader(&watchedReader{r: resp.Body, w: watch}, read))
	if err != nil {
		return nil, watch.readFailure(err, int64(len(b)))
	}
	if int64(len(b)) > limit {
		return nil, tooLarge
	}
	return b, nil
}

// watchedReader tells the stall watch about every read that moved.
type watchedReader struct {
	r io.Reader
	w *stallWatch
}

func (r *watchedReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if n > 0 {
		r.w.moved()
	}
	return n, err
}
