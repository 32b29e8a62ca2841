// Package english holds the grammar of the operator's messages that Go's
// fmt does not: the plural of a counted word.
package english

// Plural is one when n is 1, else many: "1 attempt", "2 attempts",
// "0 copies".
func Plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
