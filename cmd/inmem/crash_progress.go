package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/in-mem/inmem/crashtest"
	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// progress shows a bar on a terminal and plain lines otherwise.
type progress struct {
	w     io.Writer
	bar   *progressbar.ProgressBar
	key   string
	last  time.Time
	start time.Time
}

func newProgress(w io.Writer) *progress {
	return &progress{w: w, start: time.Now()}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func (p *progress) update(u crashtest.Progress) {
	key := u.Scenario + " " + u.Durability
	desc := fmt.Sprintf("%-10s %-8s violations %d", u.Scenario, u.Durability, u.Violations)
	if isTerminal(p.w) {
		if key != p.key {
			if p.bar != nil {
				p.bar.Finish()
				fmt.Fprintln(p.w)
			}
			total := int64(u.Total)
			if total <= 0 {
				total = -1 // a spinner: the scenario runs on a time budget
			}
			p.bar = progressbar.NewOptions64(total, progressbar.OptionSetWriter(p.w), progressbar.OptionShowCount(),
				progressbar.OptionSetWidth(30), progressbar.OptionSetElapsedTime(true), progressbar.OptionClearOnFinish())
			p.key = key
		}
		p.bar.Describe(desc)
		p.bar.Set(u.Done)
		return
	}
	if key != p.key || time.Since(p.last) >= 2*time.Second || (u.Total > 0 && u.Done == u.Total) {
		total := "?"
		if u.Total > 0 {
			total = fmt.Sprint(u.Total)
		}
		fmt.Fprintf(p.w, "[%6.1fs] %s: %d/%s %s\n", time.Since(p.start).Seconds(), desc, u.Done, total, u.Note)
		p.key, p.last = key, time.Now()
	}
}

func (p *progress) finish() {
	if p.bar != nil {
		p.bar.Finish()
		fmt.Fprintln(p.w)
	}
}
