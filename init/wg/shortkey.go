package wg

// ShortKey is a public key as the console shows it, "ABCDEF…=": enough to
// tell peers apart at a glance.
func ShortKey(k string) string { return shortKey(k) }
