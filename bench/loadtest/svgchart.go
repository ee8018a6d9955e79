package loadtest

import (
	"fmt"
	"html"
	"math"
	"strconv"
	"strings"
)

// plot is one chart of the HTML report, drawn here as inline SVG: lines
// (with gaps where a value is NaN) or dots, on linear axes from zero. Each
// series is a <path> (or a <g> of <circle>s) carrying data-series and
// data-points, so a test can check what a chart shows.
type plot struct {
	id, title      string
	xLabel, yLabel string
	series         []plotSeries
	// diagonal draws y = x (goodput against offered load).
	diagonal bool
	// logY draws y on a log scale when the values span more than two
	// decades (latencies: a few slow calls would flatten the rest).
	logY bool
}

type plotSeries struct {
	name  string
	class string // colour: c0 .. c5 (the report's style sheet)
	dash  bool
	dots  bool // points instead of a line
	x, y  []float64
	// pass marks each dot as passing (filled) or failing (hollow); nil:
	// all filled.
	pass []bool
}

const (
	plotW, plotH                      = 640, 260
	plotL, plotR, plotTop, plotBottom = 56, 12, 10, 38
)

func (p plot) svg() string {
	xMax, yMax := 0.0, 0.0
	xMin := math.Inf(1)
	for _, s := range p.series {
		for i := range s.x {
			if math.IsNaN(s.y[i]) {
				continue
			}
			xMin, xMax, yMax = math.Min(xMin, s.x[i]), math.Max(xMax, s.x[i]), math.Max(yMax, s.y[i])
		}
	}
	if math.IsInf(xMin, 1) {
		xMin, xMax = 0, 1
	}
	if p.diagonal {
		xMin = 0
		yMax = math.Max(yMax, xMax)
		xMax = math.Max(xMax, yMax)
	}
	if xMax <= xMin {
		xMax = xMin + 1
	}
	yMin := math.Inf(1)
	for _, s := range p.series {
		for _, v := range s.y {
			if v > 0 {
				yMin = math.Min(yMin, v)
			}
		}
	}
	logScale := p.logY && yMax > 0 && yMax/yMin > 100
	yMax = niceCeiling(yMax * 1.05)
	if p.diagonal {
		xMax = yMax
	}
	x := func(v float64) float64 { return plotL + (v-xMin)/(xMax-xMin)*(plotW-plotL-plotR) }
	y := func(v float64) float64 { return plotTop + (1-v/yMax)*(plotH-plotTop-plotBottom) }
	yTicks := []float64{0, yMax / 4, yMax / 2, 3 * yMax / 4, yMax}
	if logScale {
		lo, hi := math.Floor(math.Log10(yMin)), math.Ceil(math.Log10(yMax))
		y = func(v float64) float64 {
			l := math.Log10(math.Max(v, math.Pow(10, lo)))
			return plotTop + (1-(l-lo)/(hi-lo))*(plotH-plotTop-plotBottom)
		}
		yTicks = nil
		for e := lo; e <= hi; e++ {
			yTicks = append(yTicks, math.Pow(10, e))
		}
	}

	var b strings.Builder
	fmt.Fprintf(&b, `<figure class="chart" id="%s"><figcaption>%s</figcaption>`, attr(p.id), html.EscapeString(p.title))
	fmt.Fprintf(&b, `<svg viewBox="0 0 %d %d" role="img" aria-label="%s">`, plotW, plotH, attr(p.title))
	b.WriteString(`<g class="grid">`)
	for _, v := range yTicks {
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f"/><text x="%d" y="%.1f" text-anchor="end">%s</text>`,
			plotL, plotW-plotR, y(v), y(v), plotL-6, y(v)+4, axisNumber(v))
	}
	step := niceCeiling((xMax - xMin) / 6)
	for v := math.Ceil(xMin/step) * step; v <= xMax+step*1e-9; v += step {
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`, x(v), plotH-22, axisNumber(v))
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle" class="label">%s</text>`, (plotW+plotL)/2, plotH-4, html.EscapeString(p.xLabel))
	yLabel := p.yLabel
	if logScale {
		yLabel += " (log scale)"
	}
	fmt.Fprintf(&b, `<text x="12" y="%d" text-anchor="middle" class="label" transform="rotate(-90 12 %d)">%s</text>`,
		(plotH-plotBottom)/2, (plotH-plotBottom)/2, html.EscapeString(yLabel))
	b.WriteString(`</g>`)
	if p.diagonal {
		fmt.Fprintf(&b, `<line class="diagonal" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"><title>offered = goodput</title></line>`,
			x(0), y(0), x(xMax), y(xMax))
	}
	for _, s := range p.series {
		n := 0
		if s.dots {
			fmt.Fprintf(&b, `<g class="dots %s" data-series="%s"`, s.class, attr(s.name))
			var dots strings.Builder
			for i := range s.x {
				if math.IsNaN(s.y[i]) {
					continue
				}
				n++
				fill := ""
				if s.pass != nil && !s.pass[i] {
					fill = ` class="fail"`
				}
				fmt.Fprintf(&dots, `<circle cx="%.1f" cy="%.1f" r="4.5"%s data-x="%s" data-y="%s"><title>%s: %s, %s</title></circle>`,
					x(s.x[i]), y(s.y[i]), fill, num(s.x[i]), num(s.y[i]), html.EscapeString(s.name), num(s.x[i]), num(s.y[i]))
			}
			fmt.Fprintf(&b, ` data-points="%d">%s</g>`, n, dots.String())
			continue
		}
		var d strings.Builder
		open := false
		for i := range s.x {
			if math.IsNaN(s.y[i]) {
				open = false
				continue
			}
			if open {
				d.WriteString("L")
			} else {
				d.WriteString("M")
			}
			fmt.Fprintf(&d, "%.1f %.1f ", x(s.x[i]), y(s.y[i]))
			open = true
			n++
		}
		dash := ""
		if s.dash {
			dash = " dash"
		}
		path := strings.TrimSpace(d.String())
		if path == "" {
			path = "M0 0"
		}
		fmt.Fprintf(&b, `<path class="series %s%s" data-series="%s" data-points="%d" d="%s"><title>%s</title></path>`,
			s.class, dash, attr(s.name), n, path, html.EscapeString(s.name))
	}
	b.WriteString(`</svg><ul class="legend">`)
	for _, s := range p.series {
		mark := `<line x1="0" x2="24" y1="5" y2="5" class="series ` + s.class
		if s.dash {
			mark += " dash"
		}
		mark += `"/>`
		if s.dots {
			mark = `<circle cx="12" cy="5" r="4" class="` + s.class + `"/>`
		}
		fmt.Fprintf(&b, `<li><svg viewBox="0 0 24 10" aria-hidden="true">%s</svg>%s</li>`, mark, html.EscapeString(s.name))
	}
	b.WriteString(`</ul></figure>`)
	return b.String()
}

// niceCeiling rounds v up to 1, 2 or 5 times a power of ten.
func niceCeiling(v float64) float64 {
	if v <= 0 || math.IsNaN(v) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p*(1+1e-9) {
			return m * p
		}
	}
	return 10 * p
}

func axisNumber(v float64) string {
	switch a := math.Abs(v); {
	case a >= 1e6:
		return strconv.FormatFloat(v/1e6, 'f', -1, 64) + "M"
	case a >= 1e4:
		return strconv.FormatFloat(v/1e3, 'f', -1, 64) + "k"
	case a >= 100 || v == math.Trunc(v):
		return strconv.FormatFloat(math.Round(v), 'f', -1, 64)
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

func num(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

func attr(s string) string { return html.EscapeString(s) }
