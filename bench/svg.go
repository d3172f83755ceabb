package bench

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
)

// The plot shows the figures that matter when tuning, side by side, as small
// multiples: one column per metric (metrics), each scaled to its own
// maximum. A plain run draws one row per scenario, a bar per metric, the
// value written next to it; a failed or skipped scenario keeps its row with
// the reason. A --sweep run draws one small line chart per metric, the
// swept knob's values on x (evenly spaced, in the order given) and one
// line per scenario; lines are drawn widest first
// with distinct markers and dashes, so a series equal to another still
// shows around it, and a failed point is a red cross on the axis.

// metric is one column of the plot.
type metric struct {
	name, unit string
	value      func(r *Result) float64
	bad        bool // higher is worse: drawn red when non-zero (losses)
}

var plotMetrics = []metric{
	{"delivered", "msgs/s", func(r *Result) float64 { return r.OutMsgsPerSec }, false},
	{"router CPU", "s per M msgs", func(r *Result) float64 { return r.CPUPerMillion }, false},
	{"latency p99", "ms", func(r *Result) float64 { return r.P99Ms }, false},
	{"RSS peak", "MiB", func(r *Result) float64 { return r.RSSPeakMiB }, false},
	{"lost", "msgs", func(r *Result) float64 { return float64(r.Loss()) }, true},
}

// Point is a position on a panel, in pixels.
type Point struct{ X, Y float64 }

// Figure is the rendered plot of a report.
type Figure struct {
	rep   *Report
	sweep string // the swept knob, "" for a plain run
}

// Plot returns the report's figure; WriteSVG renders it.
func (rep *Report) Plot() *Figure {
	f := &Figure{rep: rep}
	if name, _, _ := parseSweep(rep.Sweep); name != "" {
		f.sweep = name
	}
	for i := range rep.Results { // a report read back from JSON may lack Sweep
		if name, _, ok := strings.Cut(rep.Results[i].Sweep, "="); ok && f.sweep == "" {
			f.sweep = name
		}
	}
	return f
}

// rows are the results the figure shows: every scenario run, not the idle
// measurement.
func (f *Figure) rows() []*Result {
	var rs []*Result
	for i := range f.rep.Results {
		if r := &f.rep.Results[i]; !r.Idle {
			rs = append(rs, r)
		}
	}
	return rs
}

func version(rep *Report) string {
	if rep.Version == "" {
		return ""
	}
	return " (" + rep.Version + ")"
}

func failed(r *Result) string {
	switch {
	case r.Error != "":
		return "FAILED: " + r.Error
	case r.Skipped != "":
		return "skipped: " + r.Skipped
	case r.Sent == 0:
		return "FAILED: nothing sent"
	}
	return ""
}

// WriteSVG renders the figure as a standalone SVG document.
func (f *Figure) WriteSVG(w io.Writer) error {
	var b bytes.Buffer
	if f.sweep != "" {
		f.sweepSVG(&b)
	} else {
		f.tableSVG(&b)
	}
	_, err := w.Write(b.Bytes())
	return err
}

func header(b *bytes.Buffer, w, h int, title, sub string) {
	fmt.Fprintf(b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", w, h, w, h)
	fmt.Fprintf(b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	text(b, 16, 26, "start", 16, "bold", title)
	text(b, 16, 44, "start", 11, "", sub)
}

const (
	labelW, colW, rowH, tableTop = 250, 170, 26, 86
	barMax                       = colW - 70 // bar length of the column's maximum; the rest holds the value
)

// tableSVG: one row per scenario, one column per metric.
func (f *Figure) tableSVG(b *bytes.Buffer) {
	rows := f.rows()
	w := labelW + len(plotMetrics)*colW + 10
	h := tableTop + max(len(rows), 1)*rowH + 30
	header(b, w, h, "logplex bench"+version(f.rep), "each column scaled to its own maximum; lost = missing at the drains + history dropped + damaged + misrouted")
	colMax := make([]float64, len(plotMetrics))
	for _, r := range rows {
		if failed(r) == "" {
			for j, m := range plotMetrics {
				colMax[j] = math.Max(colMax[j], m.value(r))
			}
		}
	}
	for j, m := range plotMetrics {
		x := float64(labelW + j*colW)
		text(b, x, tableTop-22, "start", 12, "bold", m.name)
		text(b, x, tableTop-8, "start", 10, "", m.unit)
	}
	for i, r := range rows {
		y := float64(tableTop + i*rowH)
		if i%2 == 0 {
			fmt.Fprintf(b, `<rect x="8" y="%.0f" width="%d" height="%d" fill="#f4f4f4"/>`+"\n", y, w-16, rowH)
		}
		text(b, 16, y+17, "start", 12, "", r.Scenario)
		if why := failed(r); why != "" {
			col := "#c00"
			if r.Error == "" && r.Sent != 0 || r.Skipped != "" {
				col = "#777"
			}
			fmt.Fprintf(b, `<text x="%d" y="%.1f" font-size="12" fill="%s">%s</text>`+"\n", labelW, y+17, col, esc(clip(why, 110)))
			continue
		}
		for j, m := range plotMetrics {
			v := m.value(r)
			x := float64(labelW + j*colW)
			bw := 0.0
			if colMax[j] > 0 {
				bw = v / colMax[j] * barMax
			}
			fill, label := "#4878a8", humanNum(v)
			if m.bad && v > 0 {
				fill = "#c00"
			}
			if j == 0 && r.InMsgsPerSec > 0 && math.Abs(r.InMsgsPerSec-v) > 0.01*r.InMsgsPerSec {
				label += " (in " + humanNum(r.InMsgsPerSec) + ")"
			}
			fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%d" fill="%s"><title>%s %s: %s %s</title></rect>`+"\n",
				x, y+5, math.Max(bw, 1), rowH-10, fill, esc(r.Scenario), esc(m.name), humanNum(v), esc(m.unit))
			text(b, x+math.Max(bw, 1)+4, y+17, "start", 11, "", label)
		}
	}
	if len(rows) == 0 {
		text(b, labelW, tableTop+17, "start", 12, "", "no scenario ran")
	}
	b.WriteString("</svg>\n")
}

var (
	palette = []string{"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf"}
	dashes  = []string{"", "6 3", "2 3", "8 3 2 3"}
)

const (
	panelW, panelH, panelCols = 330, 230, 3
	pl, pr, pt, pb            = 58, 14, 30, 38 // panel padding: left, right, top, bottom
)

// sweepSVG: one line chart per metric, x the swept knob, a line per scenario.
func (f *Figure) sweepSVG(b *bytes.Buffer) {
	rows := f.rows()
	var names []string // scenarios in order of first appearance
	seen := map[string]bool{}
	for _, r := range rows {
		if !seen[r.Scenario] {
			seen[r.Scenario] = true
			names = append(names, r.Scenario)
		}
	}
	// x is the position of a run's value in the sweep, evenly spaced and
	// labelled as given (sizes, durations and counts alike)
	var vals []string
	if _, vs, _ := parseSweep(f.rep.Sweep); len(vs) > 0 {
		vals = vs
	}
	xs := map[*Result]float64{}
	for _, r := range rows {
		_, v, _ := strings.Cut(r.Sweep, "=")
		i := slices.Index(vals, v)
		if i < 0 {
			i, vals = len(vals), append(vals, v)
		}
		xs[r] = float64(i)
	}
	nPanels := len(plotMetrics) + 1 // the last cell holds the legend
	gridRows := (nPanels + panelCols - 1) / panelCols
	w, h := panelCols*panelW+20, 60+gridRows*panelH+10
	header(b, w, h, "logplex bench: sweep of "+f.sweep+version(f.rep),
		"x: "+f.sweep+"; each panel scaled to its own maximum; a red × is a failed run")
	for j, m := range plotMetrics {
		ox, oy := float64(10+(j%panelCols)*panelW), float64(60+(j/panelCols)*panelH)
		f.panel(b, ox, oy, m, rows, names, xs, vals)
	}
	ox, oy := float64(10+(len(plotMetrics)%panelCols)*panelW), float64(60+(len(plotMetrics)/panelCols)*panelH)
	text(b, ox+pl, oy+pt, "start", 12, "bold", "scenarios")
	for i, n := range names {
		y := oy + pt + 22 + float64(i)*22
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="3" stroke-dasharray="%s"/>`+"\n",
			ox+pl, y-4, ox+pl+34, y-4, palette[i%len(palette)], dashes[i%len(dashes)])
		marker(b, ox+pl+17, y-4, i)
		text(b, ox+pl+44, y, "start", 12, "", n)
	}
	b.WriteString("</svg>\n")
}

func (f *Figure) panel(b *bytes.Buffer, ox, oy float64, m metric, rows []*Result, names []string,
	xs map[*Result]float64, vals []string) {
	iw, ih := float64(panelW-pl-pr), float64(panelH-pt-pb)
	ymax := 0.0
	for _, r := range rows {
		if _, ok := xs[r]; ok && failed(r) == "" {
			ymax = math.Max(ymax, m.value(r))
		}
	}
	ystep := niceStep(ymax / 4)
	ytop := math.Max(math.Ceil(ymax/ystep)*ystep, ystep)
	xpix := func(x float64) float64 { return ox + pl + (x+0.5)/float64(max(len(vals), 1))*iw }
	ypix := func(y float64) float64 { return oy + pt + ih - y/ytop*ih }
	text(b, ox+pl, oy+pt-10, "start", 12, "bold", m.name+" ("+m.unit+")")
	for y := 0.0; y <= ytop+ystep/2; y += ystep {
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", ox+pl, ypix(y), ox+pl+iw, ypix(y))
		text(b, ox+pl-5, ypix(y)+4, "end", 10, "", humanNum(y))
	}
	fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="black"/>`+"\n", ox+pl, oy+pt+ih, ox+pl+iw, oy+pt+ih)
	for i, v := range vals {
		text(b, xpix(float64(i)), oy+pt+ih+15, "middle", 10, "", v)
	}
	n := len(names)
	var crosses []float64        // failed runs, drawn last so no line hides them
	for i, name := range names { // widest first: an equal later series shows inside it
		var pts []Point
		for _, r := range rows {
			x, ok := xs[r]
			if !ok || r.Scenario != name {
				continue
			}
			if failed(r) != "" {
				crosses = append(crosses, xpix(x))
				continue
			}
			pts = append(pts, Point{xpix(x), ypix(m.value(r))})
		}
		var line strings.Builder
		for _, p := range pts {
			fmt.Fprintf(&line, "%.1f,%.1f ", p.X, p.Y)
		}
		fmt.Fprintf(b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="%d" stroke-dasharray="%s" stroke-opacity="0.85"/>`+"\n",
			strings.TrimSpace(line.String()), palette[i%len(palette)], 2+2*(n-1-i), dashes[i%len(dashes)])
		for _, p := range pts {
			marker(b, p.X, p.Y, i)
		}
	}
	for _, x := range crosses {
		cross(b, x, oy+pt+ih)
	}
}

// marker draws series i's point shape: circle, square, triangle, diamond.
func marker(b *bytes.Buffer, x, y float64, i int) {
	col := palette[i%len(palette)]
	switch i % 4 {
	case 0:
		fmt.Fprintf(b, `<circle cx="%.1f" cy="%.1f" r="4" fill="%s" stroke="white"/>`+"\n", x, y, col)
	case 1:
		fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="8" height="8" fill="%s" stroke="white"/>`+"\n", x-4, y-4, col)
	case 2:
		fmt.Fprintf(b, `<path d="M%.1f %.1fl5 8h-10z" fill="%s" stroke="white"/>`+"\n", x, y-5, col)
	default:
		fmt.Fprintf(b, `<path d="M%.1f %.1fl5 5l-5 5l-5-5z" fill="%s" stroke="white"/>`+"\n", x, y-5, col)
	}
}

func cross(b *bytes.Buffer, x, y float64) {
	fmt.Fprintf(b, `<path d="M%.1f %.1fl10 10m0-10l-10 10" stroke="#c00" stroke-width="2.5"/>`+"\n", x-5, y-5)
}

func text(b *bytes.Buffer, x, y float64, anchor string, size int, weight, s string) {
	if weight != "" {
		weight = ` font-weight="` + weight + `"`
	}
	fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="%s" font-size="%d"%s>%s</text>`+"\n", x, y, anchor, size, weight, esc(s))
}

func clip(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

func esc(s string) string {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// niceStep rounds a raw step up to 1, 2 or 5 times a power of ten.
func niceStep(raw float64) float64 {
	if raw <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= raw {
			return m * p
		}
	}
	return 10 * p
}

// humanNum renders 1500000 as "1.5M", 65536 as "65.5k".
func humanNum(v float64) string {
	switch a := math.Abs(v); {
	case a >= 1e6:
		return strconv.FormatFloat(math.Round(v/1e4)/100, 'f', -1, 64) + "M"
	case a >= 1e3:
		return strconv.FormatFloat(math.Round(v/100)/10, 'f', -1, 64) + "k"
	}
	return strconv.FormatFloat(math.Round(v*100)/100, 'f', -1, 64)
}
