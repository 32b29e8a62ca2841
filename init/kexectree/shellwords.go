package kexectree

import (
	"errors"
	"fmt"
	"strings"
)

// scriptDirMark stands for an expansion of $SCRIPT_DIR inside a word, so
// that the path check can tell "${SCRIPT_DIR}/bzImage" from "/bzImage".
// splitWords refuses NUL in its input, so the mark is unambiguous.
const scriptDirMark = "\x00"

// showWord prints a word for an operator, with the mark spelled as written.
func showWord(w string) string {
	return strings.ReplaceAll(w, scriptDirMark, "${SCRIPT_DIR}")
}

const onlyScriptDir = "only $SCRIPT_DIR is expanded (the script is parsed, not run)"

// splitWords splits one logical shell line (continuations already joined,
// comments already dropped) into words as POSIX sh would: single quotes are
// literal, double quotes honour \" \\ \$ \` and $SCRIPT_DIR, a backslash
// outside quotes escapes the next character. Anything that would make a
// shell run or expand something else is an error: we do not run a shell.
func splitWords(s string) ([]string, error) {
	if strings.IndexByte(s, 0) >= 0 {
		return nil, errors.New("NUL byte in the line")
	}
	var (
		words  []string
		b      strings.Builder
		inWord bool
	)
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			if inWord {
				words = append(words, b.String())
				b.Reset()
				inWord = false
			}
			i++
		case c == '#' && !inWord:
			// A comment runs to the end of the line.
			i = len(s)
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, errors.New("single quote is never closed")
			}
			b.WriteString(s[i+1 : i+1+j])
			inWord = true
			i += j + 2
		case c == '"':
			inWord = true
			n, err := doubleQuoted(s[i:], &b)
			if err != nil {
				return nil, err
			}
			i += n
		case c == '\\':
			inWord = true
			if i+1 == len(s) {
				b.WriteByte('\\')
				i++
				break
			}
			if s[i+1] != '\n' {
				b.WriteByte(s[i+1])
			}
			i += 2
		case c == '$':
			inWord = true
			n, err := expand(s[i:], false, &b)
			if err != nil {
				return nil, err
			}
			i += n
		case c == '`':
			return nil, fmt.Errorf("backtick command substitution is not supported: %s", onlyScriptDir)
		case strings.IndexByte(";&|<>()", c) >= 0:
			return nil, fmt.Errorf("shell operator %q is not supported in this line; the kexec command must stand alone", c)
		case c == '*' || c == '?' || c == '[' || c == '{':
			return nil, fmt.Errorf("unquoted %q would be expanded by a shell; quote it", c)
		case c == '~' && !inWord:
			return nil, fmt.Errorf("unquoted ~ would be expanded by a shell: %s", onlyScriptDir)
		default:
			b.WriteByte(c)
			inWord = true
			i++
		}
	}
	if inWord {
		words = append(words, b.String())
	}
	return words, nil
}

// doubleQuoted reads a double-quoted string at the start of s into b and
// returns how many bytes it took, both quotes included.
func doubleQuoted(s string, b *strings.Builder) (int, error) {
	for i := 1; i < len(s); {
		switch c := s[i]; c {
		case '"':
			return i + 1, nil
		case '\\':
			if i+1 < len(s) && strings.IndexByte("$`\"\\\n", s[i+1]) >= 0 {
				if s[i+1] != '\n' {
					b.WriteByte(s[i+1])
				}
				i += 2
				break
			}
			b.WriteByte('\\')
			i++
		case '$':
			n, err := expand(s[i:], true, b)
			if err != nil {
				return 0, err
			}
			i += n
		case '`':
			return 0, fmt.Errorf("backtick command substitution is not supported: %s", onlyScriptDir)
		default:
			b.WriteByte(c)
			i++
		}
	}
	return 0, errors.New("double quote is never closed")
}

// expand handles the "$" at the start of s: $SCRIPT_DIR and ${SCRIPT_DIR}
// become scriptDirMark, a "$" that starts no expansion stays literal, and
// every other expansion is an error. It returns the bytes consumed.
func expand(s string, quoted bool, b *strings.Builder) (int, error) {
	if len(s) == 1 || strings.IndexByte(" \t\n\r", s[1]) >= 0 || (quoted && s[1] == '"') {
		b.WriteByte('$')
		return 1, nil
	}
	switch c := s[1]; {
	case c == '{':
		j := strings.IndexByte(s, '}')
		if j < 0 {
			return 0, errors.New("${ is never closed with }")
		}
		if name := s[2:j]; name != "SCRIPT_DIR" {
			return 0, fmt.Errorf("${%s} is not supported: %s", name, onlyScriptDir)
		}
		b.WriteString(scriptDirMark)
		return j + 1, nil
	case isNameByte(c) && !isDigit(c):
		j := 1
		for j < len(s) && isNameByte(s[j]) {
			j++
		}
		if name := s[1:j]; name != "SCRIPT_DIR" {
			return 0, fmt.Errorf("$%s is not supported: %s", name, onlyScriptDir)
		}
		b.WriteString(scriptDirMark)
		return j, nil
	case c == '(':
		return 0, fmt.Errorf("$(...) command substitution is not supported: %s", onlyScriptDir)
	case c == '\'' || c == '"':
		return 0, fmt.Errorf("$%c...%c quoting is not supported; use plain quotes", c, c)
	}
	return 0, fmt.Errorf("$%c is not supported: %s", s[1], onlyScriptDir)
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func isNameByte(c byte) bool {
	return c == '_' || isDigit(c) || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z')
}
