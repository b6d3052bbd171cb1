package main

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/in-mem/inmem/crashtest"
	"github.com/in-mem/inmem/crashtest/campaign"
)

// commandPrefix is how a reproduction's command starts: from a clone of
// the repository, as the README's set-up runs the tool.
const commandPrefix = "go run ./cmd/inmem"

// commandOf spells a reproduction as the command that runs it.
func commandOf(r crashtest.Reproduction) string {
	words := []string{commandPrefix, "crash", r.Scenario, "--seed", strconv.FormatUint(r.Seed, 10)}
	if r.Durability != "" {
		words = append(words, "--durability", r.Durability)
	}
	if r.Iterations > 0 {
		words = append(words, "--iterations", strconv.Itoa(r.Iterations))
	}
	sc, _ := campaign.Lookup(r.Scenario)
	for _, s := range inParamOrder(sc, r.Params) {
		if sc != nil && kindOf(sc, s.Name) == crashtest.KindBool {
			words = append(words, "--"+s.Name+"="+s.Value)
			continue
		}
		words = append(words, "--"+s.Name, shellQuote(s.Value))
	}
	return strings.Join(words, " ")
}

// inParamOrder returns settings in the order the scenario declares its
// params (a list's values keep theirs), so that one reproduction has one
// spelling.
func inParamOrder(sc crashtest.Scenario, set []crashtest.Setting) []crashtest.Setting {
	if sc == nil {
		return set
	}
	rank := map[string]int{}
	for i, p := range sc.Params() {
		rank[p.Name] = i
	}
	out := slices.Clone(set)
	slices.SortStableFunc(out, func(a, b crashtest.Setting) int { return rank[a.Name] - rank[b.Name] })
	return out
}

func kindOf(sc crashtest.Scenario, name string) crashtest.Kind {
	for _, p := range sc.Params() {
		if p.Name == name {
			return p.Kind
		}
	}
	return crashtest.KindText
}

// parseCommand reads a command commandOf wrote back into the reproduction,
// through the same flags the command runs with.
func parseCommand(line string) (crashtest.Reproduction, error) {
	words, err := shellSplit(line)
	if err != nil {
		return crashtest.Reproduction{}, err
	}
	rest, ok := strings.CutPrefix(strings.Join(words, "\x00"), strings.Join(strings.Fields(commandPrefix), "\x00")+"\x00")
	if !ok {
		rest, ok = strings.CutPrefix(strings.Join(words, "\x00"), "inmem\x00")
	}
	args := strings.Split(rest, "\x00")
	if !ok || len(args) < 2 || args[0] != "crash" {
		return crashtest.Reproduction{}, fmt.Errorf("%q is not an inmem crash command", line)
	}
	return parseArgs(args[1:])
}

// parseArgs parses "SCENARIO --flag value ..." with the scenario command's
// own flags.
func parseArgs(args []string) (crashtest.Reproduction, error) {
	sc, err := campaign.Lookup(args[0])
	if err != nil {
		return crashtest.Reproduction{}, err
	}
	cmd := newScenarioCmd(&globals{}, sc)
	if err := cmd.ParseFlags(args[1:]); err != nil {
		return crashtest.Reproduction{}, err
	}
	fl := cmd.Flags()
	r := crashtest.Reproduction{Scenario: sc.Name()}
	r.Seed, _ = fl.GetUint64("seed")
	r.Iterations, _ = fl.GetInt("iterations")
	if d, _ := fl.GetString("durability"); d != "both" {
		r.Durability = d
	}
	for _, p := range sc.Params() {
		if !fl.Changed(p.Name) {
			continue
		}
		values := []string{fl.Lookup(p.Name).Value.String()}
		if p.Kind == crashtest.KindList {
			values, _ = fl.GetStringArray(p.Name)
		}
		for _, v := range values {
			r.Params = append(r.Params, crashtest.Setting{Name: p.Name, Value: v})
		}
	}
	return r, nil
}

// shellQuote quotes s for a POSIX shell where it needs quoting.
func shellQuote(s string) string {
	safe := s != ""
	for _, c := range s {
		if !strings.ContainsRune("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./:=,+-@%", c) {
			safe = false
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// shellSplit splits a command line into words as a POSIX shell would for
// the quoting shellQuote writes: single quotes, double quotes, backslashes.
func shellSplit(line string) ([]string, error) {
	var words []string
	var w strings.Builder
	inWord, quote := false, rune(0)
	for i := 0; i < len(line); i++ {
		c := rune(line[i])
		switch {
		case quote == '\'' && c == '\'', quote == '"' && c == '"':
			quote = 0
		case quote == '\'':
			w.WriteRune(c)
		case c == '\\' && i+1 < len(line) && quote != '\'':
			i++
			w.WriteByte(line[i])
			inWord = true
		case quote == '"':
			w.WriteRune(c)
		case c == '\'' || c == '"':
			quote, inWord = c, true
		case c == ' ' || c == '\t' || c == '\n':
			if inWord {
				words, inWord = append(words, w.String()), false
				w.Reset()
			}
		default:
			w.WriteRune(c)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, errors.New("unterminated quote")
	}
	if inWord {
		words = append(words, w.String())
	}
	return words, nil
}
