package main

import "testing"

func TestCrash_TargetChildList(t *testing.T) {
	if code, _, errOut := runExit(t, "crash", "target-child", "list"); code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if code, _, _ := runExit(t, "crash", "target-child", "frobnicate"); code == exitOK {
		t.Fatal("an unknown target-child command succeeded")
	}
}
