// Command pictures draws dashboard panels as PNG pictures from the query results a test
// recorded, so that the README can show what a user will see, from data that went
// through the real pipeline (simulated Box -> telegraf-box -> Telegraf -> InfluxDB).
//
// Usage: go run . -in figures.json -out ../../docs/img
//
// The input is a JSON array of figures; each figure becomes <name>.png: its panels in a
// grid, each panel one time-series chart, and the figure's caption underneath (say
// where the data came from). It is a nested module so that its plotting dependency
// (gonum.org/v1/plot) stays out of the telegraf-box module, which Telegraf builds in.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"image/color"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// figure is one picture: panels in a grid and a caption.
type figure struct {
	Name    string  `json:"name"` // file name without .png
	Title   string  `json:"title"`
	Caption string  `json:"caption"`
	Columns int     `json:"columns"` // panels per row (default 3)
	Panels  []panel `json:"panels"`
}

// panel is one dashboard panel's data: its series over time.
type panel struct {
	Title  string   `json:"title"`
	Unit   string   `json:"unit"` // y axis label
	Series []series `json:"series"`
	// Marks are vertical lines at moments worth pointing at (a fault starting).
	Marks []mark `json:"marks,omitempty"`
}

type series struct {
	Name   string       `json:"name"`
	Points [][2]float64 `json:"points"` // [unix milliseconds, value]
}

type mark struct {
	At    int64  `json:"at"` // unix milliseconds
	Label string `json:"label"`
}

var validName = regexp.MustCompile(`^[a-z0-9_-]+$`)

func main() {
	in := flag.String("in", "", "the figures (JSON) a test recorded")
	out := flag.String("out", ".", "directory for the PNG files")
	flag.Parse()
	if err := run(*in, *out); err != nil {
		fmt.Fprintln(os.Stderr, "pictures:", err)
		os.Exit(1)
	}
}

func run(in, out string) error {
	if in == "" {
		return errors.New("-in is required")
	}
	plot.DefaultFont = font.Font{Typeface: "Liberation", Variant: "Sans"}
	buf, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	var figs []figure
	if err := json.Unmarshal(buf, &figs); err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	if len(figs) == 0 {
		return fmt.Errorf("%s: no figures", in)
	}
	for _, f := range figs {
		if !validName.MatchString(f.Name) {
			return fmt.Errorf("figure name %q: want [a-z0-9_-]+", f.Name)
		}
		path := filepath.Join(out, f.Name+".png")
		if err := draw1(f, path); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		fmt.Println(path)
	}
	return nil
}

// palette is Grafana's classic series colours, so the pictures look like the dashboard.
var palette = []color.Color{
	color.RGBA{R: 0x73, G: 0xbf, B: 0x69, A: 0xff},
	color.RGBA{R: 0xf2, G: 0xcc, B: 0x0c, A: 0xff},
	color.RGBA{R: 0x8a, G: 0xb8, B: 0xff, A: 0xff},
	color.RGBA{R: 0xff, G: 0x78, B: 0x0a, A: 0xff},
	color.RGBA{R: 0xf2, G: 0x49, B: 0x5c, A: 0xff},
	color.RGBA{R: 0x57, G: 0x94, B: 0xf2, A: 0xff},
	color.RGBA{R: 0xb8, G: 0x77, B: 0xd9, A: 0xff},
}

func draw1(f figure, path string) error {
	if len(f.Panels) == 0 {
		return errors.New("no panels")
	}
	cols := f.Columns
	if cols <= 0 {
		cols = 3
	}
	rows := (len(f.Panels) + cols - 1) / cols
	const panelW, panelH = 5 * vg.Inch, 3 * vg.Inch
	caption := wrap(f.Caption, 170)
	titleH, captionH := 0.5*vg.Inch, vg.Length(len(caption))*0.22*vg.Inch+0.25*vg.Inch
	width := vg.Length(cols) * panelW
	height := vg.Length(rows)*panelH + titleH + captionH
	img := vgimg.NewWith(vgimg.UseWH(width, height), vgimg.UseDPI(96))
	dc := draw.New(img)
	dc.SetColor(color.White)
	dc.Fill(dc.Rectangle.Path())

	header := draw.Canvas{Canvas: dc.Canvas, Rectangle: vg.Rectangle{
		Min: vg.Point{X: 0, Y: height - titleH}, Max: vg.Point{X: width, Y: height}}}
	text(header, f.Title, 16, true)
	for i, line := range caption {
		y := captionH - vg.Length(i+1)*0.22*vg.Inch
		footer := draw.Canvas{Canvas: dc.Canvas, Rectangle: vg.Rectangle{
			Min: vg.Point{X: 0, Y: y}, Max: vg.Point{X: width, Y: y + 0.22*vg.Inch}}}
		text(footer, line, 11, false)
	}

	grid := draw.Canvas{Canvas: dc.Canvas, Rectangle: vg.Rectangle{
		Min: vg.Point{X: 0, Y: captionH}, Max: vg.Point{X: width, Y: height - titleH}}}
	tiles := draw.Tiles{Rows: rows, Cols: cols, PadX: vg.Millimeter * 3, PadY: vg.Millimeter * 3,
		PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 4, PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2}
	for i, p := range f.Panels {
		pl, err := chart(p)
		if err != nil {
			return fmt.Errorf("panel %q: %w", p.Title, err)
		}
		pl.Draw(tiles.At(grid, i%cols, i/cols))
	}
	w, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(w); err != nil {
		_ = w.Close()
		return err
	}
	return w.Close()
}

// wrap breaks s into lines of at most width characters, at spaces.
func wrap(s string, width int) []string {
	var lines []string
	line := ""
	for _, w := range strings.Fields(s) {
		if line != "" && len(line)+1+len(w) > width {
			lines = append(lines, line)
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += w
	}
	if line != "" {
		lines = append(lines, line)
	}
	return lines
}

// unitLabels are the y-axis labels of Grafana's units.
var unitLabels = map[string]string{
	"s":           "seconds",
	"ms":          "milliseconds",
	"short":       "",
	"percentunit": "share of time",
}

func text(c draw.Canvas, s string, size vg.Length, bold bool) {
	if s == "" {
		return
	}
	variant := plot.DefaultFont
	if bold {
		variant.Weight = 700
	}
	sty := draw.TextStyle{Color: color.Black, Font: font.From(variant, size), Handler: plot.DefaultTextHandler,
		XAlign: draw.XCenter, YAlign: draw.YCenter}
	c.FillText(sty, vg.Point{X: c.Center().X, Y: c.Center().Y}, s)
}

func chart(p panel) (*plot.Plot, error) {
	pl := plot.New()
	pl.Title.Text = p.Title
	pl.Y.Label.Text = p.Unit
	if label, ok := unitLabels[p.Unit]; ok {
		pl.Y.Label.Text = label
	}
	pl.Legend.TextStyle.Font.Size = vg.Points(9)
	pl.X.Label.Text = "time (UTC)"
	pl.X.Tick.Marker = plot.TimeTicks{Format: "15:04:05", Time: func(t float64) time.Time {
		return time.UnixMilli(int64(t)).UTC()
	}}
	pl.Add(plotter.NewGrid())
	pl.Legend.Top = true
	pl.Legend.Left = true
	empty := true
	for i, s := range p.Series {
		xys := make(plotter.XYs, 0, len(s.Points))
		for _, pt := range s.Points {
			xys = append(xys, plotter.XY{X: pt[0], Y: pt[1]})
		}
		if len(xys) == 0 {
			continue
		}
		empty = false
		line, err := plotter.NewLine(xys)
		if err != nil {
			return nil, err
		}
		line.Color = palette[i%len(palette)]
		line.Width = vg.Points(1.5)
		pl.Add(line)
		if s.Name != "" {
			pl.Legend.Add(s.Name, line)
		}
	}
	if empty {
		pl.Title.Text += " (no data)"
	}
	if empty {
		pl.Y.Min, pl.Y.Max = 0, 1
	}
	for k, m := range p.Marks {
		x := float64(m.At)
		vline, err := plotter.NewLine(plotter.XYs{{X: x, Y: pl.Y.Min}, {X: x, Y: pl.Y.Max}})
		if err != nil {
			return nil, err
		}
		vline.Color = color.Gray{Y: 0x70} // the fault
		if k > 0 {
			vline.Color = color.RGBA{R: 0xe0, G: 0x2f, B: 0x44, A: 0xff} // an alert firing
		}
		vline.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		pl.Add(vline)
		if m.Label != "" {
			pl.Legend.Add(m.Label, vline)
		}
	}
	return pl, nil
}
