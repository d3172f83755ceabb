package bench

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"strconv"
)

// Chart is a simple plot: named series of (x, y) points. With Bars each
// series is one group of bars over the categories in Labels; otherwise the
// points are joined by lines over numeric x.
type Chart struct {
	Title, XLabel, YLabel string
	Bars                  bool
	Labels                []string // bar categories (Bars only)
	Series                []Series
}

// Series is one line (or one bar colour).
type Series struct {
	Name   string
	Points []Point // for bars: X is the category index
}

// Point is one value.
type Point struct{ X, Y float64 }

var palette = []string{"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"}

const (
	svgW, svgH             = 900, 520
	padL, padR, padT, padB = 90, 200, 50, 110
	plotW, plotH           = svgW - padL - padR, svgH - padT - padB
)

// WriteSVG renders the chart as a standalone SVG document.
func (c *Chart) WriteSVG(w io.Writer) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", svgW, svgH, svgW, svgH)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	text(&b, svgW/2, 25, "middle", 16, c.Title)
	xmin, xmax, ymax := c.bounds()
	ystep := niceStep(ymax / 5)
	ytop := math.Ceil(ymax/ystep) * ystep
	if ytop <= 0 {
		ytop = 1
	}
	ypix := func(y float64) float64 { return padT + plotH - y/ytop*plotH }
	// axes and grid
	for y := 0.0; y <= ytop+ystep/2; y += ystep {
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>`+"\n", padL, ypix(y), padL+plotW, ypix(y))
		text(&b, padL-6, ypix(y)+4, "end", 11, humanNum(y))
	}
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>`+"\n", padL, padT+plotH, padL+plotW, padT+plotH)
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>`+"\n", padL, padT, padL, padT+plotH)
	fmt.Fprintf(&b, `<text x="20" y="%d" text-anchor="middle" transform="rotate(-90 20 %d)">%s</text>`+"\n", padT+plotH/2, padT+plotH/2, esc(c.YLabel))
	if c.Bars {
		c.bars(&b, ypix)
	} else {
		c.lines(&b, xmin, xmax, ypix)
	}
	xl := c.XLabel
	if !c.Bars && logScale(xmin, xmax) {
		xl += " (log scale)"
	}
	text(&b, padL+plotW/2, svgH-15, "middle", 12, xl)
	for i, s := range c.Series { // legend
		y := padT + 10 + i*20
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="12" height="12" fill="%s"/>`+"\n", padL+plotW+15, y-10, palette[i%len(palette)])
		text(&b, float64(padL+plotW+32), float64(y), "start", 12, s.Name)
	}
	b.WriteString("</svg>\n")
	_, err := w.Write(b.Bytes())
	return err
}

// logScale: x values over decades (sizes, rates) are plotted on a log axis.
func logScale(xmin, xmax float64) bool { return xmin > 0 && xmax/xmin >= 16 }

func (c *Chart) bounds() (xmin, xmax, ymax float64) {
	xmin, xmax = math.Inf(1), math.Inf(-1)
	for _, s := range c.Series {
		for _, p := range s.Points {
			xmin, xmax, ymax = math.Min(xmin, p.X), math.Max(xmax, p.X), math.Max(ymax, p.Y)
		}
	}
	if xmin > xmax {
		xmin, xmax = 0, 1
	}
	if xmin == xmax {
		xmin, xmax = xmin-1, xmax+1
	}
	return xmin, xmax, ymax
}

func (c *Chart) lines(b *bytes.Buffer, xmin, xmax float64, ypix func(float64) float64) {
	xpix := func(x float64) float64 { return padL + (x-xmin)/(xmax-xmin)*plotW }
	if logScale(xmin, xmax) {
		lmin, lmax := math.Log(xmin), math.Log(xmax)
		xpix = func(x float64) float64 { return padL + (math.Log(x)-lmin)/(lmax-lmin)*plotW }
	}
	ticks := map[float64]bool{}
	for i, s := range c.Series {
		col := palette[i%len(palette)]
		var pts bytes.Buffer
		for _, p := range s.Points {
			fmt.Fprintf(&pts, "%.1f,%.1f ", xpix(p.X), ypix(p.Y))
			fmt.Fprintf(b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>`+"\n", xpix(p.X), ypix(p.Y), col)
			ticks[p.X] = true
		}
		fmt.Fprintf(b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2"/>`+"\n", bytes.TrimSpace(pts.Bytes()), col)
	}
	for x := range ticks {
		text(b, xpix(x), padT+plotH+16, "middle", 11, humanNum(x))
	}
}

func (c *Chart) bars(b *bytes.Buffer, ypix func(float64) float64) {
	n := max(len(c.Labels), 1)
	groupW := float64(plotW) / float64(n)
	barW := groupW * 0.8 / float64(max(len(c.Series), 1))
	for i, s := range c.Series {
		col := palette[i%len(palette)]
		for _, p := range s.Points {
			x := padL + p.X*groupW + groupW*0.1 + float64(i)*barW
			fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s: %s</title></rect>`+"\n",
				x, ypix(p.Y), barW, ypix(0)-ypix(p.Y), col, esc(s.Name), humanNum(p.Y))
		}
	}
	for i, l := range c.Labels {
		x := padL + (float64(i)+0.5)*groupW
		y := float64(padT + plotH + 12)
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="end" font-size="11" transform="rotate(-35 %.1f %.1f)">%s</text>`+"\n",
			x, y, x, y, esc(l))
	}
}

func text(b *bytes.Buffer, x, y float64, anchor string, size int, s string) {
	fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="%s" font-size="%d">%s</text>`+"\n", x, y, anchor, size, esc(s))
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

// Plot builds the report's chart: with a sweep, delivered msgs/s against
// the swept knob per scenario; otherwise msgs/s in and out per scenario.
func (rep *Report) Plot() *Chart {
	if name, _, _ := parseSweep(rep.Sweep); name != "" {
		c := &Chart{Title: "logplex bench: delivered msgs/s vs " + name, XLabel: name, YLabel: "msgs/s delivered"}
		idx := map[string]int{}
		for _, r := range rep.Results {
			if r.Skipped != "" || r.Error != "" || r.Sent == 0 {
				continue
			}
			_, v, _ := parseSweep(r.Sweep)
			x, err := ParseRate(v[0])
			if err != nil {
				continue
			}
			i, ok := idx[r.Scenario]
			if !ok {
				i = len(c.Series)
				idx[r.Scenario] = i
				c.Series = append(c.Series, Series{Name: r.Scenario})
			}
			c.Series[i].Points = append(c.Series[i].Points, Point{X: x, Y: r.OutMsgsPerSec})
		}
		return c
	}
	c := &Chart{Title: "logplex bench: throughput per scenario", XLabel: "scenario", YLabel: "msgs/s", Bars: true,
		Series: []Series{{Name: "in (accepted)"}, {Name: "out (delivered)"}}}
	for _, r := range rep.Results {
		if r.Skipped != "" || r.Error != "" || r.Sent == 0 {
			continue
		}
		x := float64(len(c.Labels))
		c.Labels = append(c.Labels, r.Scenario)
		c.Series[0].Points = append(c.Series[0].Points, Point{X: x, Y: r.InMsgsPerSec})
		c.Series[1].Points = append(c.Series[1].Points, Point{X: x, Y: r.OutMsgsPerSec})
	}
	return c
}
