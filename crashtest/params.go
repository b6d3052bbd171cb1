package crashtest

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/in-mem/inmem/vfs"
)

// ErrBadSetting is matched (errors.Is) by every error about a setting a
// campaign cannot run with. Such an error comes before any work; the
// command line exits with status 2 on it.
var ErrBadSetting = errors.New("crashtest: bad setting")

// SettingError says which setting is wrong and what is wanted.
type SettingError struct {
	Name  string // the setting ("seed", "at", ...)
	Value string
	Want  string
}

func (e *SettingError) Error() string {
	if e.Value == "" {
		return fmt.Sprintf("%s: %s", e.Name, e.Want)
	}
	return fmt.Sprintf("%s %q: %s", e.Name, e.Value, e.Want)
}

// Is makes a SettingError match ErrBadSetting.
func (e *SettingError) Is(target error) bool { return target == ErrBadSetting }

// Kind is the type of a Param's value.
type Kind uint8

// The kinds of settings. A List may be given more than once; a Bool is
// "true" or "false".
const (
	KindText Kind = iota
	KindInt
	KindBool
	KindDuration
	KindList
)

// Param is one setting a scenario takes beyond those of every session.
type Param struct {
	Name    string // lower-case words joined by '-'
	Kind    Kind
	Default string // for a List, one value per line
	Usage   string
	// Check refuses a value; nil accepts any well-formed value of Kind.
	Check func(v string) error
}

// IntParam returns an Int param accepting values in [lo, hi].
func IntParam(name string, def, lo, hi int, usage string) Param {
	return Param{Name: name, Kind: KindInt, Default: strconv.Itoa(def), Usage: usage, Check: func(v string) error {
		n, _ := strconv.Atoi(v)
		if n < lo || n > hi {
			return fmt.Errorf("want a number from %d to %d", lo, hi)
		}
		return nil
	}}
}

// OptionalIntParam returns an Int param that is unset by default and,
// when set, accepts values in [lo, hi].
func OptionalIntParam(name string, lo, hi int, usage string) Param {
	p := IntParam(name, 0, lo, hi, usage)
	p.Default = ""
	return p
}

// DurationParam returns a Duration param accepting values in [lo, hi].
func DurationParam(name string, def, lo, hi time.Duration, usage string) Param {
	return Param{Name: name, Kind: KindDuration, Default: def.String(), Usage: usage, Check: func(v string) error {
		d, _ := time.ParseDuration(v)
		if d < lo || d > hi {
			return fmt.Errorf("want a duration from %s to %s", lo, hi)
		}
		return nil
	}}
}

// PoliciesParam returns the policies param of a scenario that crashes
// under vfs crash policies: a comma-separated list of their names.
func PoliciesParam(def string) Param {
	return Param{Name: "policies", Default: def, Usage: "crash policies of every crash point: drop, keep, random, pages, reorder",
		Check: func(v string) error {
			if _, err := vfs.ParseCrashModes(v); err != nil {
				return errors.New("want a list of drop, keep, random, pages, reorder")
			}
			return nil
		}}
}

// ChoiceParam returns a String param accepting one of choices.
func ChoiceParam(name, def string, choices []string, usage string) Param {
	return Param{Name: name, Kind: KindText, Default: def, Usage: usage, Check: func(v string) error {
		if !slices.Contains(choices, v) {
			return fmt.Errorf("want one of %s", strings.Join(choices, ", "))
		}
		return nil
	}}
}

// check validates one value of p.
func (p Param) check(v string) error {
	bad := func(want string) error { return &SettingError{Name: p.Name, Value: v, Want: want} }
	if v == "" && p.Default == "" {
		return nil // unset
	}
	switch p.Kind {
	case KindInt:
		if _, err := strconv.Atoi(v); err != nil {
			return bad("want a whole number")
		}
	case KindBool:
		if _, err := strconv.ParseBool(v); err != nil {
			return bad("want true or false")
		}
	case KindDuration:
		if _, err := time.ParseDuration(v); err != nil {
			return bad("want a duration such as 30s or 2m")
		}
	}
	if p.Check == nil {
		return nil
	}
	if err := p.Check(v); err != nil {
		return bad(err.Error())
	}
	return nil
}

// Settings are a scenario's values by Param name. Resolve fills in the
// defaults and checks every value.
type Settings map[string][]string

// Resolve returns the settings of a scenario with params: given values
// checked (an unknown name is an error), the rest defaulted.
func Resolve(params []Param, given Settings) (Settings, error) {
	out := Settings{}
	for name := range given {
		if !slices.ContainsFunc(params, func(p Param) bool { return p.Name == name }) {
			return nil, &SettingError{Name: name, Want: "not a setting of this scenario"}
		}
	}
	for _, p := range params {
		vs, ok := given[p.Name]
		if !ok {
			vs = defaults(p)
		}
		if p.Kind != KindList && len(vs) > 1 {
			return nil, &SettingError{Name: p.Name, Value: strings.Join(vs, " "), Want: "want one value"}
		}
		for _, v := range vs {
			if err := p.check(v); err != nil {
				return nil, err
			}
		}
		out[p.Name] = vs
	}
	return out, nil
}

func defaults(p Param) []string {
	if p.Kind == KindList {
		if p.Default == "" {
			return nil
		}
		return strings.Split(p.Default, "\n")
	}
	return []string{p.Default}
}

// String returns the value of a setting ("" if unset).
func (s Settings) String(name string) string {
	if vs := s[name]; len(vs) > 0 {
		return vs[0]
	}
	return ""
}

// Int returns the value of an Int setting (0 if unset).
func (s Settings) Int(name string) int {
	n, _ := strconv.Atoi(s.String(name))
	return n
}

// Bool returns the value of a Bool setting (false if unset).
func (s Settings) Bool(name string) bool {
	b, _ := strconv.ParseBool(s.String(name))
	return b
}

// Duration returns the value of a Duration setting (0 if unset).
func (s Settings) Duration(name string) time.Duration {
	d, _ := time.ParseDuration(s.String(name))
	return d
}

// List returns the values of a List setting.
func (s Settings) List(name string) []string { return s[name] }

// Has reports whether a setting has a non-empty value.
func (s Settings) Has(name string) bool { return s.String(name) != "" }
