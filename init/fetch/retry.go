package fetch

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"
)

// fetcher is what File and Small work with: the client, the backoff
// between attempts, how long a body may stall, and where the room for a
// download is read. Tests make their own.
type fetcher struct {
	c                      *http.Client
	backoffMin, backoffMax time.Duration
	// stallTimeout ends an attempt whose body has not moved for that
	// long (a tunnel that went away leaves the TCP connection open), so
	// that the next attempt resumes instead of waiting for the context.
	stallTimeout   time.Duration
	memAvailable   func() (int64, error)
	spaceAvailable func(dir string) (int64, error)
}

func newFetcher(c *http.Client) *fetcher {
	return &fetcher{
		c:              c,
		backoffMin:     250 * time.Millisecond,
		backoffMax:     8 * time.Second,
		stallTimeout:   30 * time.Second,
		memAvailable:   readMemAvailable,
		spaceAvailable: statfsAvailable,
	}
}

const hintServer = "check that the server is up and serves that directory"

// attemptError is why one attempt failed.
type attemptError struct {
	err       error
	permanent bool   // retrying cannot help
	hint      string // what to do; "" for hintServer
}

func (e *attemptError) Error() string { return e.err.Error() }
func (e *attemptError) Unwrap() error { return e.err }

func retryable(err error) error { return &attemptError{err: err} }

func permanent(err error, hint string) error {
	return &attemptError{err: err, permanent: true, hint: hint}
}

// statusError is an HTTP status other than the one asked for.
type statusError struct {
	code   int
	status string // "404 Not Found"
}

func (e *statusError) Error() string { return "HTTP " + e.status }

// Is lets callers tell "absent" (SHA256SUMS may be) from a failure.
func (e *statusError) Is(target error) bool {
	return target == fs.ErrNotExist && (e.code == http.StatusNotFound || e.code == http.StatusGone)
}

func statusFailure(resp *http.Response) error {
	status := resp.Status
	if status == "" {
		status = fmt.Sprintf("%d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
	}
	err := &statusError{code: resp.StatusCode, status: status}
	switch c := resp.StatusCode; {
	case c == http.StatusNotFound || c == http.StatusGone:
		return permanent(err, "check that the URL names the tree's directory and that the tree holds that file")
	case c == http.StatusUnauthorized || c == http.StatusForbidden:
		return permanent(err, "check the user and password in the URL and the server's permissions on that directory")
	case c == http.StatusRequestTimeout || c == http.StatusTooManyRequests || c >= 500:
		return retryable(err)
	default:
		return permanent(err, hintServer)
	}
}

// newGet is a GET request for rawURL; a bad URL is an error that does not
// quote it, since it may hold a password.
func newGet(ctx context.Context, rawURL string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, permanent(fmt.Errorf("bad URL: %v", err), "fix the URL in homestaker.next")
	}
	if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
		return nil, permanent(fmt.Errorf("bad URL: scheme %q is neither http nor https", req.URL.Scheme), "fix the URL in homestaker.next")
	}
	return req, nil
}

// transportFailure classifies an error of http.Client.Do.
func transportFailure(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // its text repeats the URL, with the user name
	}
	var ce *caBundleError
	if errors.As(err, &ce) {
		return permanent(err, "use an http:// source, or build the initramfs with a CA bundle")
	}
	var re *redirectError
	if errors.As(err, &re) {
		return permanent(err, "serve the tree where the URL points, or name the server it redirects to in homestaker.next")
	}
	var te *certError
	if errors.As(err, &te) {
		return permanent(err, "the server's certificate must be issued for the URL's host by a CA in that bundle")
	}
	return retryable(err)
}

// fetchError is what Small and File return: what failed on what, after
// how many attempts, and what to do.
type fetchError struct {
	url      string // without userinfo
	attempts int
	err      error // the last attempt's failure
	ended    error // the context's error when it ended the retries
}

func (e *fetchError) Error() string {
	var ae *attemptError
	hint := hintServer
	if errors.As(e.err, &ae) && ae.hint != "" {
		hint = ae.hint
	}
	tries := "1 attempt"
	if e.attempts != 1 {
		tries = fmt.Sprintf("%d attempts", e.attempts)
	}
	if e.ended != nil {
		return fmt.Sprintf("GET %s: %v; gave up after %s (%v); %s", e.url, e.err, tries, e.ended, hint)
	}
	return fmt.Sprintf("GET %s: %v (%s); %s", e.url, e.err, tries, hint)
}

func (e *fetchError) Unwrap() []error {
	if e.ended != nil {
		return []error{e.err, e.ended}
	}
	return []error{e.err}
}

// retry runs attempt until it succeeds, fails permanently or ctx ends.
// An attempt that moved the download forward resets the backoff: a link
// that drops every minute still gets the file through. failed, if not nil,
// hears each failure that will be retried and how long until then.
func (f *fetcher) retry(ctx context.Context, shownURL string, attempt func(context.Context) (progressed bool, err error), failed func(err error, wait time.Duration)) error {
	wait := f.backoffMin
	var last error
	for n := 1; ; n++ {
		progressed, err := attempt(ctx)
		if err == nil {
			return nil
		}
		// An attempt cut short by the context says less than the one before.
		if last == nil || ctx.Err() == nil {
			last = err
		}
		if ctx.Err() != nil {
			return &fetchError{url: shownURL, attempts: n, err: last, ended: ctx.Err()}
		}
		var ae *attemptError
		if errors.As(err, &ae) && ae.permanent {
			return &fetchError{url: shownURL, attempts: n, err: err}
		}
		if progressed {
			wait = f.backoffMin
		}
		d := jitter(wait)
		if failed != nil {
			failed(err, d)
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return &fetchError{url: shownURL, attempts: n, err: last, ended: ctx.Err()}
		case <-t.C:
		}
		wait = min(2*wait, f.backoffMax)
	}
}

// jitter spreads d over [0.75d, 1.25d) so that machines booting together
// do not hammer the server in step.
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return d*3/4 + rand.N(d/2+1)
}

// stallWatch cancels an attempt whose body has not moved for timeout.
type stallWatch struct {
	timeout time.Duration
	t       *time.Timer
	stalled atomic.Bool // set by the timer's goroutine
}

func watchStall(timeout time.Duration, cancel context.CancelFunc) *stallWatch {
	w := &stallWatch{timeout: timeout}
	w.t = time.AfterFunc(timeout, func() {
		w.stalled.Store(true)
		cancel()
	})
	return w
}

func (w *stallWatch) moved() { w.t.Reset(w.timeout) }
func (w *stallWatch) stop()  { w.t.Stop() }

// readFailure names a body that broke off, after done bytes.
func (w *stallWatch) readFailure(err error, done int64) error {
	if w.stalled.Load() {
		return retryable(fmt.Errorf("no data for %v after %s", w.timeout, formatSize(float64(done))))
	}
	return retryable(fmt.Errorf("connection lost after %s: %w", formatSize(float64(done)), err))
}
