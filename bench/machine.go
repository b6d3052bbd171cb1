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
