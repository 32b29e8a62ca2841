package config

import "strings"

// Tokenize splits a command line as the kernel does: words are separated
// by whitespace, double quotes group (also in the middle of a word, as in
// key="a b") and are removed, and everything after a standalone "--"
// belongs to init and is not a parameter. The kernel removes only a value's
// enclosing quotes; removing all of them is the same for every line a
// person writes, and lets Encode quote any value without quotes in it.
func Tokenize(cmdline string) []Param {
	return tokenize(cmdline, false)
}

// tokenize is Tokenize; with comments, an unquoted '#' at the start of a
// word ends the text (one line of the defaults file).
func tokenize(s string, comments bool) []Param {
	var params []Param
	var b strings.Builder
	i := 0
	for {
		for i < len(s) && isSpace(s[i]) {
			i++
		}
		if i >= len(s) || comments && s[i] == '#' {
			return params
		}
		b.Reset()
		inQuote := false
		for ; i < len(s); i++ {
			c := s[i]
			if c == '"' {
				inQuote = !inQuote
				continue
			}
			if isSpace(c) && !inQuote {
				break
			}
			b.WriteByte(c)
		}
		word := b.String()
		if word == "--" {
			return params
		}
		if word == "" {
			continue // "" alone: nothing the kernel would act on
		}
		key, value, has := strings.Cut(word, "=")
		params = append(params, Param{Key: key, Value: value, HasValue: has})
	}
}

// isSpace is the kernel's isspace for ASCII.
func isSpace(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\v', '\f', '\r':
		return true
	}
	return false
}
