package fetch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// checkEvery is how often a body of unknown size re-checks free memory.
const checkEvery = 64 << 20

// File downloads url into dst (created 0600, replaced if present) and
// returns its size. A broken connection is resumed with a Range request;
// If-Range carries the ETag or Last-Modified, so that a file changed on the
// server starts again from 0, as does a server that ignores Range. Failures
// are retried with backoff until ctx ends; a 404, a refused certificate or
// a file too large for memory are not. Before any byte is written, the size
// must fit in MemAvailable beside a reserve (see Fits). progress (nil ok)
// hears at most every 500 ms, at each retry and at the end. On failure dst
// is removed: in tmpfs it would hold memory.
func File(ctx context.Context, c *http.Client, url, dst string, progress func(Progress)) (int64, error) {
	return newFetcher(c).file(ctx, url, dst, progress)
}

func (fe *fetcher) file(ctx context.Context, url, dst string, progress func(Progress)) (int64, error) {
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return 0, fmt.Errorf("GET %s: %v", Redact(url), err)
	}
	if err := f.Chmod(0o600); err != nil { // O_CREATE keeps an old file's mode
		f.Close()
		return 0, fmt.Errorf("GET %s: %v", Redact(url), err)
	}
	d := &download{
		fe:      fe,
		url:     url,
		dst:     dst,
		f:       f,
		total:   -1,
		checked: -2,
		buf:     make([]byte, 1<<20),
		meter:   newMeter(Redact(url), progress, time.Now()),
	}
	err = fe.retry(ctx, Redact(url), d.attempt, func(err error, _ time.Duration) {
		d.meter.retrying(time.Now(), err)
	})
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("GET %s: writing %s: %v", Redact(url), dst, cerr)
	}
	if err != nil {
		os.Remove(dst)
		return 0, err
	}
	d.meter.finish(time.Now(), d.done, d.done, d.resumes)
	return d.done, nil
}

// download is the state carried from one attempt to the next. Only the
// goroutine running File touches it.
type download struct {
	fe        *fetcher
	url       string
	dst       string
	f         *os.File
	done      int64  // bytes in f, all from the same version of the file
	total     int64  // -1 while unknown
	validator string // strong ETag, else Last-Modified: If-Range's value
	checked   int64  // the total whose room was checked; -2 none yet
	resumes   int
	buf       []byte
	meter     *meter
}

// attempt makes one request and copies what it gets into the file.
func (d *download) attempt(ctx context.Context) (progressed bool, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req, err := newGet(ctx, d.url)
	if err != nil {
		return false, err
	}
	ranged := d.done > 0
	if ranged {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", d.done))
		if d.validator != "" {
			req.Header.Set("If-Range", d.validator)
		}
	}
	resp, err := d.fe.c.Do(req)
	if err != nil {
		return false, transportFailure(err)
	}
	defer resp.Body.Close()

	switch {
	case resp.StatusCode == http.StatusOK:
		if d.done > 0 {
			// The file changed or the server ignores Range.
			if err := d.restart(); err != nil {
				return false, err
			}
		}
		d.total = resp.ContentLength
		d.validator = validatorOf(resp)
	case resp.StatusCode == http.StatusPartialContent && ranged:
		start, total, err := parseContentRange(resp.Header.Get("Content-Range"))
		changed := d.validator != "" && validatorOf(resp) != "" && validatorOf(resp) != d.validator
		if err != nil || start != d.done || (d.total >= 0 && total >= 0 && total != d.total) || changed {
			if rerr := d.restart(); rerr != nil {
				return false, rerr
			}
			if err == nil {
				err = fmt.Errorf("server resumed at byte %d of %d, asked for byte %d of %d", start, total, d.done, d.total)
			}
			return false, retryable(fmt.Errorf("%w; starting again from 0", err))
		}
		if total >= 0 {
			d.total = total
		}
		d.resumes++
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable && ranged:
		if d.total >= 0 && d.done == d.total {
			return false, nil
		}
		if err := d.restart(); err != nil {
			return false, err
		}
		return false, retryable(fmt.Errorf("HTTP %s for bytes %d-; starting again from 0", resp.Status, d.done))
	default:
		return false, statusFailure(resp)
	}

	if d.checked != d.total {
		room := d.fe.checkRoomSoFar(d.done)
		if d.total >= 0 {
			room = d.fe.checkRoom(d.dst, d.total-d.done)
		}
		if room != nil {
			return false, room
		}
		d.checked = d.total
	}
	d.meter.update(time.Now(), d.done, d.total, d.resumes)
	return d.copyBody(resp.Body, cancel)
}

// copyBody appends the body to the file, watching for a stall and, when
// the size is unknown, for memory running out.
func (d *download) copyBody(body io.Reader, cancel context.CancelFunc) (progressed bool, err error) {
	watch := watchStall(d.fe.stallTimeout, cancel)
	defer watch.stop()
	nextCheck := d.done + checkEvery
	for {
		n, rerr := body.Read(d.buf)
		if n > 0 {
			watch.moved()
			if _, err := d.f.WriteAt(d.buf[:n], d.done); err != nil {
				return progressed, permanent(fmt.Errorf("writing %s: %v", d.dst, err), hintMemory)
			}
			d.done += int64(n)
			progressed = true
			d.meter.update(time.Now(), d.done, d.total, d.resumes)
			if d.total < 0 && d.done >= nextCheck {
				if err := d.fe.checkRoomSoFar(d.done); err != nil {
					return progressed, err
				}
				nextCheck = d.done + checkEvery
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return progressed, watch.readFailure(rerr, d.done)
		}
	}
	if d.total >= 0 && d.done != d.total {
		err := fmt.Errorf("body ended at byte %d of %d", d.done, d.total)
		if d.done > d.total {
			if rerr := d.restart(); rerr != nil {
				return progressed, rerr
			}
			err = fmt.Errorf("%w; starting again from 0", err)
		}
		return progressed, retryable(err)
	}
	return progressed, nil
}

// restart forgets what was downloaded.
func (d *download) restart() error {
	if err := d.f.Truncate(0); err != nil {
		return permanent(fmt.Errorf("truncating %s: %v", d.dst, err), "check the download directory")
	}
	d.done, d.total, d.validator = 0, -1, ""
	return nil
}

// validatorOf is what If-Range may carry: a strong ETag, else the
// Last-Modified date. Without one, a resume relies on the total size
// staying the same (and on SHA256SUMS afterwards).
func validatorOf(resp *http.Response) string {
	if etag := resp.Header.Get("ETag"); etag != "" && !strings.HasPrefix(etag, "W/") {
		return etag
	}
	return resp.Header.Get("Last-Modified")
}

// parseContentRange reads "bytes START-END/TOTAL" (TOTAL may be "*": -1).
func parseContentRange(s string) (start, total int64, err error) {
	bad := fmt.Errorf("bad Content-Range %q", s)
	rest, ok := strings.CutPrefix(s, "bytes ")
	if !ok {
		return 0, 0, bad
	}
	rng, tot, ok := strings.Cut(rest, "/")
	if !ok {
		return 0, 0, bad
	}
	first, last, ok := strings.Cut(rng, "-")
	if !ok {
		return 0, 0, bad
	}
	start, err1 := strconv.ParseInt(first, 10, 64)
	end, err2 := strconv.ParseInt(last, 10, 64)
	if err := errors.Join(err1, err2); err != nil || start < 0 || end < start {
		return 0, 0, bad
	}
	total = -1
	if tot != "*" {
		total, err = strconv.ParseInt(tot, 10, 64)
		if err != nil || total <= end {
			return 0, 0, bad
		}
	}
	return start, total, nil
}
