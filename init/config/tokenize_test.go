package config

import (
	"reflect"
	"testing"
)

func TestTokenize(t *testing.T) {
	p := func(k, v string) Param { return Param{Key: k, Value: v, HasValue: true} }
	flag := func(k string) Param { return Param{Key: k} }
	for _, tc := range []struct {
		name, in string
		want     []Param
	}{
		{"empty", "", nil},
		{"blank", " \t\n ", nil},
		{"words", "ro quiet a=b", []Param{flag("ro"), flag("quiet"), p("a", "b")}},
		{"proc trailing newline", "a=b c=d\n", []Param{p("a", "b"), p("c", "d")}},
		{"tabs and runs of spaces", "a=1\t\tb=2   c=3", []Param{p("a", "1"), p("b", "2"), p("c", "3")}},
		{"empty value", "a= b", []Param{p("a", ""), flag("b")}},
		{"value with =", "a=b=c", []Param{p("a", "b=c")}},
		{"quoted value", `homestaker.label="my disk" x`, []Param{p("homestaker.label", "my disk"), flag("x")}},
		{"quoted word", `"homestaker.label=my disk"`, []Param{p("homestaker.label", "my disk")}},
		{"quote mid value", `a=x"y z"w`, []Param{p("a", "xy zw")}},
		{"empty quotes", `a="" "" b`, []Param{p("a", ""), flag("b")}},
		{"unterminated quote runs to the end", `a="b c d`, []Param{p("a", "b c d")}},
		{"double dash ends parameters", "a=1 -- b=2 single", []Param{p("a", "1")}},
		{"quoted double dash too", `a=1 "--" b=2`, []Param{p("a", "1")}},
		{"double dash with value is a parameter", "--=x b", []Param{p("--", "x"), flag("b")}},
		{"dash dash inside a word", "a=-- b", []Param{p("a", "--"), flag("b")}},
		{"hash is not a comment on the command line", "#a=1", []Param{p("#a", "1")}},
		{"equals first", "=x", []Param{p("", "x")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Tokenize(tc.in); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Tokenize(%q) = %#v, want %#v", tc.in, got, tc.want)
			}
		})
	}
}

func TestTokenizeComments(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []Param
	}{
		{"# all comment", nil},
		{"a=1 # b=2", []Param{{"a", "1", true}}},
		{`a="x # y" # z`, []Param{{"a", "x # y", true}}},
		{"a=http://h/#frag", []Param{{"a", "http://h/#frag", true}}},
	} {
		if got := tokenize(tc.in, true); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("tokenize(%q, comments) = %#v, want %#v", tc.in, got, tc.want)
		}
	}
}
