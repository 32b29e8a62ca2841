package kmod

import "strings"

// CmdlineParams gathers module parameters from the kernel command line's
// words ("key=value", unquoted), as modprobe does: the kernel itself
// applies "module.param=value" only to built-in modules and leaves the
// loadable ones to the loader. The result maps a module name (with '-'
// read as '_', as module names are) to its parameters joined by spaces,
// in command-line order. Words without a '.' before the '=' are the
// kernel's or the init's, not a module's.
func CmdlineParams(words []string) map[string]string {
	params := map[string]string{}
	for _, w := range words {
		key, value, hasValue := strings.Cut(w, "=")
		mod, param, ok := strings.Cut(key, ".")
		if !ok || mod == "" || param == "" {
			continue
		}
		mod = strings.ReplaceAll(mod, "-", "_")
		if !hasValue {
			value = ""
		}
		p := param
		if hasValue {
			if strings.ContainsAny(value, " \t") {
				value = `"` + value + `"`
			}
			p += "=" + value
		}
		if params[mod] != "" {
			params[mod] += " "
		}
		params[mod] += p
	}
	return params
}
