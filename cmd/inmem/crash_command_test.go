package main

import (
	"reflect"
	"testing"

	"github.com/in-mem/inmem/crashtest"
)

// TestCommandOf_RoundTripTargets: every reproduction the scenarios build is
// spelled as one command that parses back into the same values, lists,
// booleans and values that need quoting included (settings in the order of
// the scenario's Params, as the scenarios list them).
func TestCommandOf_RoundTripTargets(t *testing.T) {
	tcs := []crashtest.Reproduction{
		{Scenario: "kill", Seed: 7, Durability: "strict", Iterations: 3, Params: []crashtest.Setting{{Name: "signal", Value: "mix"}}},
		{Scenario: "barriers", Seed: 1, Iterations: 1, Params: []crashtest.Setting{
			{Name: "mount-opts", Value: "data=ordered"}, {Name: "state", Value: "b55"}, {Name: "kill-first", Value: "true"},
			{Name: "target", Value: "goleveldb-buggy"}, {Name: "target-binary", Value: "/tmp/my adapter.py"},
			{Name: "target-arg", Value: "--mode"}, {Name: "target-arg", Value: "it's safe"},
			{Name: "mix", Value: "put=70,delete=10,batch=15,sync=5"}, {Name: "check-timeout", Value: "30s"}, {Name: "depth", Value: "deep"}}},
	}
	for _, want := range tcs {
		t.Run(want.Scenario, func(t *testing.T) {
			cmd := commandOf(want)
			got, err := parseCommand(cmd)
			if err != nil {
				t.Fatalf("%s: %v", cmd, err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("%s\nparsed back as %+v\nwant %+v", cmd, got, want)
			}
		})
	}
}
