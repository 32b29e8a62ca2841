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

// RedactURLs applies RedactURL to every URL of urlSchemes in text (a
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

// urlSchemes are the URLs a command line may hold: sources, and a syslog
// target that was mistakenly given a user and password.
var urlSchemes = []string{"http://", "https://", "syslog+udp://", "syslog+tcp://"}

func urlStart(s string) int {
	first := -1
	for _, p := range urlSchemes {
		if i := strings.Index(s, p); i >= 0 && (first < 0 || i < first) {
			first = i
		}
	}
	return first
}
