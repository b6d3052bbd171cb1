package campaign

import (
	"fmt"
	"html/template"
	"io"
	"strings"

	"github.com/in-mem/inmem/crashtest"
)

// WriteHTML writes the report as one self-contained HTML page (no script,
// no network): the summary, the crash matrix as a coloured grid (crash point
// × crash type), charts of recovery time and of acknowledged versus
// recovered versions per iteration, and every violation with its
// reproduce command.
func (r *Report) WriteHTML(w io.Writer) error {
	return reportTemplate.Execute(w, htmlView{Report: r, Grid: r.grid(), Charts: r.charts()})
}

type htmlView struct {
	*Report
	Grid   grid
	Charts []chart
}

// grid is the matrix laid out as rows of crash points and columns of
// durability × crash type.
type grid struct {
	Columns []string
	Rows    []gridRow
}

type gridRow struct {
	Point string
	Cells []gridCell
}

type gridCell struct {
	Class, Text, Title string
}

func (r *Report) grid() grid {
	var g grid
	cols := map[string]bool{}
	byKey := map[string]crashtest.Cell{}
	for _, c := range r.Matrix {
		col := c.Durability + " · " + c.Kind
		if !cols[col] {
			cols[col] = true
			g.Columns = append(g.Columns, col)
		}
		byKey[c.Point+"|"+col] = c
	}
	for _, p := range gridPoints(r.Matrix) {
		row := gridRow{Point: p}
		for _, col := range g.Columns {
			c, ok := byKey[p+"|"+col]
			switch {
			case !ok:
				row.Cells = append(row.Cells, gridCell{Class: "skip", Text: "–", Title: "not run in this shard"})
			case c.Passed:
				row.Cells = append(row.Cells, gridCell{Class: "pass", Text: fmt.Sprintf("✓ %d/%d", c.Hits, c.Runs),
					Title: c.Expectation + fmt.Sprintf(" (%d acknowledged verified)", c.AckedVerified)})
			default:
				row.Cells = append(row.Cells, gridCell{Class: "fail", Text: "✗", Title: c.Expectation + ": " + strings.Join(c.Failures, "; ")})
			}
		}
		if len(g.Columns) > 0 {
			g.Rows = append(g.Rows, row)
		}
	}
	return g
}

// gridPoints returns the matrix's rows: every crash point (if any cell
// crashed at one), then the rows of crashes at no named point (the kernel
// scenarios'), as their cells name them.
func gridPoints(cells []crashtest.Cell) []string {
	var points, extra []string
	named, seen := map[string]bool{}, map[string]bool{}
	for _, p := range crashtest.AllCrashPoints() {
		named[p.String()] = true
	}
	for _, c := range cells {
		switch {
		case named[c.Point]:
			seen[""] = true
		case !seen[c.Point]:
			extra = append(extra, c.Point)
			seen[c.Point] = true
		}
	}
	if seen[""] {
		for _, p := range crashtest.AllCrashPoints() {
			points = append(points, p.String())
		}
	}
	return append(points, extra...)
}

// chart is an inline SVG line chart.
type chart struct {
	Title, Caption string
	SVG            template.HTML
}

type series struct {
	name, color string
	ys          []float64
}

func (r *Report) charts() []chart {
	type key struct{ scenario, durability string }
	var keys []key
	byKey := map[key][]Point{}
	for _, p := range r.Iterations {
		k := key{p.Scenario, p.Durability}
		if _, ok := byKey[k]; !ok {
			keys = append(keys, k)
		}
		byKey[k] = append(byKey[k], p)
	}
	var out []chart
	for _, k := range keys {
		out = append(out, pointCharts(k.scenario, k.durability, byKey[k])...)
	}
	return out
}

// pointCharts draws one scenario's points: recovery time, and what was
// acknowledged, promised and recovered, so that a loss shows only where
// one happened and a permitted one (Buffered after a power loss) shows
// between the acknowledged and the promised line.
func pointCharts(sc, d string, pts []Point) []chart {
	rec, acked, promised, got := make([]float64, len(pts)), make([]float64, len(pts)), make([]float64, len(pts)), make([]float64, len(pts))
	lost := 0
	for i, p := range pts {
		rec[i], acked[i], promised[i], got[i] = p.RecoveryMs, float64(p.Acked), float64(p.Promised), float64(p.Recovered)
		if p.Recovered < p.Promised {
			lost++
		}
	}
	label, unit := "iteration", "version"
	if sc == "powerloss" || sc == "barriers" {
		label, unit = "workload", "operations (mean per crash state)"
	}
	caption := fmt.Sprintf("Per %s: what was acknowledged before the crash, what the promise required, and what was recovered (%s). "+
		"Recovered at or above promised keeps the promise; between promised and acknowledged is a loss the mode permits. "+
		"%d of %d below promised.", label, unit, lost, len(pts))
	return []chart{
		{Title: fmt.Sprintf("%s (%s): recovery time per %s", sc, d, label), Caption: "Milliseconds to open and recover.",
			SVG: lineChart(label, "ms", []series{{"recovery ms", "#3a6ea5", rec}})},
		{Title: fmt.Sprintf("%s (%s): acknowledged, promised and recovered per %s", sc, d, label), Caption: caption,
			SVG: lineChart(label, unit, []series{{"acknowledged", "#999999", acked}, {"promised", "#e08e0b", promised}, {"recovered", "#27ae60", got}})},
	}
}

// lineChart draws the series over their index as an SVG.
func lineChart(xLabel, yLabel string, ss []series) template.HTML {
	const w, h, left, bottom, top, right = 640.0, 240.0, 60.0, 30.0, 10.0, 110.0
	maxY, n := 0.0, 0
	for _, s := range ss {
		n = max(n, len(s.ys))
		for _, y := range s.ys {
			maxY = max(maxY, y)
		}
	}
	if maxY == 0 {
		maxY = 1
	}
	x := func(i int) float64 {
		if n <= 1 {
			return left
		}
		return left + float64(i)*(w-left-right)/float64(n-1)
	}
	y := func(v float64) float64 { return top + (h-top-bottom)*(1-v/maxY) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%g" height="%g" role="img">`, w, h)
	fmt.Fprintf(&b, `<line x1="%g" y1="%g" x2="%g" y2="%g" stroke="#444"/>`, left, h-bottom, w-right, h-bottom)
	fmt.Fprintf(&b, `<line x1="%g" y1="%g" x2="%g" y2="%g" stroke="#444"/>`, left, top, left, h-bottom)
	fmt.Fprintf(&b, `<text x="%g" y="%g" font-size="11" text-anchor="end">%s</text>`, left-4, top+8, fmtNum(maxY))
	fmt.Fprintf(&b, `<text x="%g" y="%g" font-size="11" text-anchor="end">0</text>`, left-4, h-bottom)
	fmt.Fprintf(&b, `<text x="%g" y="%g" font-size="11" text-anchor="middle">%s (1–%d)</text>`, (left+w-right)/2, h-8, xLabel, n)
	fmt.Fprintf(&b, `<text x="12" y="%g" font-size="11" transform="rotate(-90 12 %g)" text-anchor="middle">%s</text>`, (top+h-bottom)/2, (top+h-bottom)/2, yLabel)
	for si, s := range ss {
		pts := make([]string, len(s.ys))
		for i, v := range s.ys {
			pts[i] = fmt.Sprintf("%.1f,%.1f", x(i), y(v))
		}
		// Earlier series are drawn wider, so equal lines stay visible.
		width := 1.5 + 2*float64(len(ss)-1-si)
		fmt.Fprintf(&b, `<polyline class="series" data-name="%s" fill="none" stroke="%s" stroke-width="%g" stroke-opacity="0.85" points="%s"/>`,
			s.name, s.color, width, strings.Join(pts, " "))
		if len(s.ys) <= 60 {
			for i, v := range s.ys {
				fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="2" fill="%s"><title>%s %d: %s</title></circle>`, x(i), y(v), s.color, xLabel, i+1, fmtNum(v))
			}
		}
		fmt.Fprintf(&b, `<rect x="%g" y="%g" width="10" height="10" fill="%s"/><text x="%g" y="%g" font-size="11">%s</text>`,
			w-right+8, top+float64(si)*16, s.color, w-right+22, top+9+float64(si)*16, s.name)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // #nosec: built from numbers and fixed names only
}

func fmtNum(v float64) string {
	if v == float64(int64(v)) {
		return fmt.Sprint(int64(v))
	}
	return fmt.Sprintf("%.2f", v)
}

var reportTemplate = template.Must(template.New("report").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>in-mem crash campaign: {{if .Passed}}PASS{{else if .Violations}}FAIL{{else}}INTERRUPTED{{end}}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1100px}
h1 .pass{color:#1e7b34}h1 .fail{color:#b3261e}
table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #ccc;padding:4px 8px;font-size:13px}
th{background:#f3f3f3}td.num{text-align:right}
td.pass{background:#c8efcf}td.fail{background:#f6c1bd;font-weight:bold}td.skip{background:#eee;color:#888}
pre{background:#f7f7f7;padding:8px;overflow-x:auto;font-size:12px}
.chart{margin:1em 0}.caption{color:#555;font-size:12px}
</style></head><body>
<h1>in-mem crash campaign: <span id="verdict" class="{{if .Passed}}pass{{else}}fail{{end}}">{{if .Passed}}PASS{{else if .Violations}}FAIL{{else}}INTERRUPTED{{end}}</span></h1>
<p>Seed {{.Seed}}, {{if .Merged}}shards {{.Merged}} of {{.Shards}} merged{{else}}shard {{.Shard}}/{{.Shards}}{{end}}, started {{.Started.Format "2006-01-02 15:04:05 UTC"}}, {{printf "%.1f" .Seconds}} s,
{{.Machine.GoVersion}} on {{.Machine.OS}}/{{.Machine.Arch}} with {{.Machine.CPUs}} CPUs ({{.Machine.Host}}).</p>
<h2>Summary</h2>
<table id="summary"><tr><th>scenario</th><th>durability</th><th>runs</th><th>unit</th><th>acknowledged verified</th><th>acknowledged lost</th><th>permitted loss</th><th>violations</th><th>time</th></tr>
{{range .Summary}}<tr><td>{{.Scenario}}</td><td>{{.Durability}}</td><td class="num">{{.Runs}}</td><td>{{.Unit}}</td><td class="num">{{.AckedVerified}}</td><td class="num {{if .AckedLost}}fail{{end}}">{{.AckedLost}}</td><td class="num">{{.PermittedLoss}}</td><td class="num {{if .Violations}}fail{{else}}pass{{end}}">{{.Violations}}</td><td class="num">{{printf "%.1f" .Seconds}} s</td></tr>
{{end}}</table>
{{range .Summary}}{{if or .Classes .Interrupted .Coverage}}<p class="caption" id="classes-{{.Scenario}}-{{.Durability}}"><b>{{.Scenario}} · {{.Durability}}</b>: findings by class: {{range $c, $n := .Classes}}{{$c}} {{$n}}; {{else}}none; {{end}}{{if .Interrupted}}{{.Interrupted}} {{.Unit}} interrupted (not judged); {{end}}{{with .Coverage}}<br>coverage: {{range $p, $n := .Phases}}{{$p}} {{$n}}, {{end}}{{.SyncPoints}} sync points{{range .Files}}; {{.Name}} {{.Size}} B, {{.States}} states{{end}}{{end}}</p>
{{end}}{{end}}
{{if .Grid.Rows}}<h2>Crash matrix</h2>
<p class="caption">Each cell: a crash at that point, recovered and judged against the reference model, with the cell's own expectation (hover for it). ✓ hits/runs.</p>
<table id="matrix"><tr><th>crash point</th>{{range .Grid.Columns}}<th>{{.}}</th>{{end}}</tr>
{{range .Grid.Rows}}<tr><th>{{.Point}}</th>{{range .Cells}}<td class="{{.Class}}" title="{{.Title}}">{{.Text}}</td>{{end}}</tr>
{{end}}</table>{{end}}
{{if .Charts}}<h2>Charts</h2>{{range .Charts}}<div class="chart"><h3>{{.Title}}</h3>{{.SVG}}<div class="caption">{{.Caption}}</div></div>{{end}}{{end}}
<h2>Violations</h2>
{{if .Violations}}{{range $i, $v := .Violations}}<h3 class="violation">{{$v.Scenario}} ({{$v.Durability}}{{with $v.Class}}, {{.}}{{end}}): {{$v.Summary}}</h3>
<pre>{{$v.Detail}}</pre><p>Reproduce: <code>{{$v.Reproduce}}</code></p>{{end}}
{{else}}<p id="no-violations">None: every promise held.</p>{{end}}
{{if .Notices}}<h2>Notices</h2><p class="caption">Findings that break no promise: a store that did not open after a crash during its first creation, with nothing acknowledged.</p>
{{range .Notices}}<h3>{{.Scenario}} ({{.Durability}}, {{.Class}}): {{.Summary}}</h3><pre>{{.Detail}}</pre><p>Reproduce: <code>{{.Reproduce}}</code></p>{{end}}{{end}}
</body></html>
`))
