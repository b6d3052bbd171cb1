package main

import (
	"strconv"

	"github.com/spf13/cobra"

	"github.com/in-mem/inmem/crashtest"
)

// paramFlags turn a scenario's Params into flags of its command: every
// value is kept as the text given, and checked by the scenario before any
// work (crashtest.Resolve), so a flag's usage errors and a reproduction's
// settings speak the same language.
type paramFlags struct {
	params []crashtest.Param
	texts  map[string]*string
	lists  map[string]*[]string
	bools  map[string]*bool
}

func (pf *paramFlags) add(c *cobra.Command, params []crashtest.Param) {
	pf.params = params
	pf.texts, pf.lists, pf.bools = map[string]*string{}, map[string]*[]string{}, map[string]*bool{}
	fl := c.Flags()
	for _, p := range params {
		switch p.Kind {
		case crashtest.KindBool:
			b, _ := strconv.ParseBool(p.Default)
			pf.bools[p.Name] = fl.Bool(p.Name, b, p.Usage)
		case crashtest.KindList:
			var def []string
			if p.Default != "" {
				def = splitLines(p.Default)
			}
			pf.lists[p.Name] = fl.StringArray(p.Name, def, p.Usage)
		default:
			v := &paramValue{kind: p.Kind, text: p.Default}
			fl.Var(v, p.Name, p.Usage)
			pf.texts[p.Name] = &v.text
		}
	}
}

// given returns the settings given on the command line: the flags changed.
func (pf *paramFlags) given(cmd *cobra.Command) crashtest.Settings {
	s := crashtest.Settings{}
	for _, p := range pf.params {
		if !cmd.Flags().Changed(p.Name) {
			continue
		}
		switch {
		case pf.bools[p.Name] != nil:
			s[p.Name] = []string{strconv.FormatBool(*pf.bools[p.Name])}
		case pf.lists[p.Name] != nil:
			s[p.Name] = *pf.lists[p.Name]
		default:
			s[p.Name] = []string{*pf.texts[p.Name]}
		}
	}
	return s
}

// paramValue is a flag whose text the scenario checks; its type name only
// tells the help what to write.
type paramValue struct {
	kind crashtest.Kind
	text string
}

func (v *paramValue) String() string     { return v.text }
func (v *paramValue) Set(s string) error { v.text = s; return nil }

func (v *paramValue) Type() string {
	switch v.kind {
	case crashtest.KindInt:
		return "int"
	case crashtest.KindDuration:
		return "duration"
	}
	return "string"
}

func splitLines(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == '\n' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return out
}
