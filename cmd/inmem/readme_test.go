package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/in-mem/inmem/crashtest/kernel"
	"github.com/in-mem/inmem/crashtest/lazyfs"
)

// readmeElsewhere are the README's commands that are not this tool's, and
// what runs them instead.
var readmeElsewhere = map[string]string{
	"./scripts/test.sh":                 ".ci/run runs it (running it here would run these tests inside themselves)",
	"cd bench && go run . -all -runs 3": "the bench module's tests run every adapter at a tiny size; the full run takes ten minutes",
	"go test -run '^$' -bench . .":      "a benchmark run; the benchmarks' code compiles with the tests",
}

// TestREADME_Commands runs every command of the README's shell blocks, as
// a user would paste them, in a fresh directory: every one must succeed.
// Campaign budgets are cut to a few seconds; commands that need root, loop
// devices or FUSE skip where those are missing.
func TestREADME_Commands(t *testing.T) {
	if testing.Short() {
		t.Skip("runs every README command; skipped with -short")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	cmds := readmeCommands(t, filepath.Join(root, "README.md"))
	if len(cmds) < 10 {
		t.Fatalf("found only %d commands in the README", len(cmds))
	}
	t.Chdir(t.TempDir())
	for _, c := range cmds {
		t.Run(c.line, func(t *testing.T) { runReadmeCommand(t, root, c.line, c.exit) })
	}
}

func runReadmeCommand(t *testing.T, root, line string, exit int) {
	if why, ok := readmeElsewhere[line]; ok {
		t.Skip(why)
	}
	words, err := shellSplit(line)
	if err != nil {
		t.Fatal(err)
	}
	if len(words) > 0 && words[0] == "sudo" { // the README's reminder of root: the tests skip without it
		words = words[1:]
	}
	words = repoPaths(root, words)
	if len(words) > 2 && words[0] == "go" && words[1] == "-C" && strings.HasPrefix(strings.TrimPrefix(words[2], root+"/"), "crashtargets") {
		if kernel.Available() != nil && lazyfs.Available() != nil {
			t.Skip("skipping: only the kernel, barriers and lazy commands use the binary, and neither loop devices nor FUSE are here")
		}
		cmd := exec.Command(words[0], words[1:]...)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		return
	}
	if len(words) < 4 || strings.Join(words[:3], " ") != commandPrefix {
		t.Fatalf("a README command neither this tool's nor known to run elsewhere: %q", line)
	}
	args := shortBudget(words[3:])
	if strings.Contains(line, ".py") {
		if _, err := exec.LookPath("python3"); err != nil {
			t.Skip("python3 is not on PATH: the Python adapter cannot run")
		}
	}
	if slices.Contains(args, "kernel") || slices.Contains(args, "barriers") {
		needKernel(t)
	}
	if i := slices.Index(args, "--target-binary"); i >= 0 && i+1 < len(args) {
		if _, err := os.Stat(args[i+1]); err != nil {
			t.Skipf("the target binary the README builds first is missing: %v", err)
		}
	}
	if slices.Contains(args, "lazy") {
		if err := lazyfs.Available(); err != nil {
			t.Skipf("skipping: %v", err)
		}
	}
	if code, out, errOut := runExit(t, args...); code != exit {
		t.Fatalf("exit %d, want %d\n%s\n%s", code, exit, out, errOut)
	}
}

// repoPaths makes the arguments that name files of the repository
// absolute: the commands run in a fresh directory.
func repoPaths(root string, words []string) []string {
	out := slices.Clone(words)
	for i, w := range out {
		if strings.Contains(w, "/") && !filepath.IsAbs(w) && !strings.HasPrefix(w, "./cmd/") {
			if _, err := os.Stat(filepath.Join(root, w)); err == nil {
				out[i] = filepath.Join(root, w)
			}
		}
	}
	return out
}

func needKernel(t *testing.T) {
	t.Helper()
	if err := kernel.Available(); err != nil {
		t.Skipf("skipping: %v", err)
	}
}

// shortBudget cuts a campaign's time budget to a few seconds.
func shortBudget(args []string) []string {
	if len(args) == 0 || args[0] != "crash" || slices.Contains(args, "--iterations") {
		return args
	}
	out := slices.Clone(args)
	if i := slices.Index(out, "--duration"); i >= 0 && i+1 < len(out) {
		out[i+1] = "3s"
		return out
	}
	return append(out, "--duration", "3s")
}

var fence = regexp.MustCompile("(?s)```sh\n(.*?)```")

// readmeCommand is a line of a README sh block, without its comment, and
// the exit status the comment announces ("exits 1: ..."; 0 if none).
type readmeCommand struct {
	line string
	exit int
}

var exits = regexp.MustCompile(`# exits (\d+)`)

// readmeCommands returns the commands of the README's sh blocks.
func readmeCommands(t *testing.T, path string) []readmeCommand {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cmds []readmeCommand
	for _, m := range fence.FindAllStringSubmatch(string(b), -1) {
		for _, line := range strings.Split(m[1], "\n") {
			c := readmeCommand{line: stripComment(line)}
			if e := exits.FindStringSubmatch(line); e != nil {
				c.exit, _ = strconv.Atoi(e[1])
			}
			if c.line != "" {
				cmds = append(cmds, c)
			}
		}
	}
	return cmds
}

// stripComment cuts a shell comment (a # after a space, outside quotes).
func stripComment(line string) string {
	quote := byte(0)
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quote != 0 && c == quote:
			quote = 0
		case quote == 0 && (c == '\'' || c == '"'):
			quote = c
		case quote == 0 && c == '#' && (i == 0 || line[i-1] == ' '):
			return strings.TrimSpace(line[:i])
		}
	}
	return strings.TrimSpace(line)
}
