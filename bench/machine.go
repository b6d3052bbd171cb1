package main

import (
	"bufio"
	"os"
	"os/exec"
	"runtime"
	"strings"
)

// machine describes where the run happened.
func machine(dataDir string) map[string]string {
	m := map[string]string{
		"go":       runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH,
		"nproc":    strings.TrimSpace(run("nproc")),
		"cpu":      cpuModel(),
		"memory":   memTotal(),
		"data dir": dataDir,
		"in-mem":   revision(),
	}
	if df := strings.Split(strings.TrimSpace(run("df", "-hT", dataDir)), "\n"); len(df) > 1 {
		m["filesystem (df -hT)"] = strings.Join(strings.Fields(df[len(df)-1]), " ")
	}
	if src := strings.TrimSpace(run("findmnt", "-no", "SOURCE,FSTYPE,OPTIONS", "-T", dataDir)); src != "" {
		m["mount"] = src
	}
	return m
}

func run(name string, args ...string) string {
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		return ""
	}
	return string(out)
}

func cpuModel() string { return procField("/proc/cpuinfo", "model name") }

func memTotal() string { return procField("/proc/meminfo", "MemTotal") }

func procField(path, field string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == field {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// revision names the in-mem commit measured, and whether the engine's
// working tree (outside bench/) had uncommitted changes: the bench module
// builds in-mem from ../ as it is on disk.
func revision() string {
	rev := strings.TrimSpace(run("git", "-C", "..", "rev-parse", "--short", "HEAD"))
	if rev == "" {
		return "unknown revision"
	}
	dirty := strings.TrimRight(run("git", "-C", "..", "status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)bench"), "\n")
	if dirty != "" {
		return rev + " plus uncommitted changes to " + strings.Join(changedFiles(dirty), ", ")
	}
	return rev
}

func changedFiles(porcelain string) []string {
	var out []string
	for _, l := range strings.Split(porcelain, "\n") {
		if len(l) > 3 {
			out = append(out, strings.TrimSpace(l[3:]))
		}
	}
	return out
}
