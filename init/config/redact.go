package config

import (
	"net/url"
	"strings"
)

// RedactURL hides the credentials a URL may carry: its user information
// (http://user:password@host/) and the values of its query (?token=...),
// which servers use for tokens. What stays shows the operator which source
// it is. This is the one redaction of URLs for the console, kmsg, the boot
// report and errors.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return redactUnparsed(raw)
	}
	if u.User == nil && u.RawQuery == "" {
		return raw // as the operator wrote it
	}
	u.User = nil
	if u.RawQuery != "" {
		var parts []string
		for _, kv := range strings.Split(u.RawQuery, "&") {
			k, _, _ := strings.Cut(kv, "=")
			parts = append(parts, k+"=<hidden>")
		}
		u.RawQuery = strings.Join(parts, "&")
	}
	return strings.ReplaceAll(u.String(), "%3Chidden%3E", "<hidden>")
}

// redactUnparsed cuts "scheme://userinfo@" and the query by hand from a
// URL that net/url refuses.
func redactUnparsed(s string) string {
	if i := strings.IndexAny(s, "?"); i >= 0 {
		s = s[:i] + "?<hidden>"
	}
	if i := strings.Index(s, "://"); i >= 0 {
		rest := s[i+3:]
		end := strings.IndexAny(rest, "/?#")
		if end < 0 {
			end = len(rest)
		}
		if at := strings.LastIndex(rest[:end], "@"); at >= 0 {
			return s[:i+3] + rest[at+1:]
		}
	}
	return s
}

// RedactURLs applies RedactURL to every http:// or https:// URL in text (a
// command line, a message), a URL ending at white space or a quote.
func RedactURLs(text string) string {
	var b strings.Builder
	for {
		i := urlStart(text)
		if i < 0 {
			b.WriteString(text)
			return b.String()
		}
		b.WriteString(text[:i])
		text = text[i:]
		end := strings.IndexAny(text, " \t\n\"',")
		if end < 0 {
			end = len(text)
		}
		b.WriteString(RedactURL(text[:end]))
		text = text[end:]
	}
}

func urlStart(s string) int {
	h, hs := strings.Index(s, "http://"), strings.Index(s, "https://")
	switch {
	case h < 0:
		return hs
	case hs < 0:
		return h
	}
	return min(h, hs)
}
