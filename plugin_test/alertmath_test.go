package plugin_test

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"github.com/stretchr/testify/require"
)

// Grafana's math expression, as far as the shipped rules use it: numbers, $refs
// (${ref} too), + - * /, comparisons (> >= < <= == !=), && || and !, and
// parentheses, over refs that each hold one number per series (reduce first).
// Comparisons and logic give 1 or 0, as in Grafana. Series of different refs are
// joined as Grafana joins them: by labels, where one set of labels contains the
// other; a series of one ref without a partner in another is dropped, and a ref
// with a single series without labels joins every series.

// mathNode is a parsed math expression.
type mathNode interface {
	eval(vars map[string]float64) float64
}

type (
	mathNum    float64
	mathVar    string
	mathUnary  struct{ x mathNode }
	mathBinary struct {
		op   string
		l, r mathNode
	}
)

func (n mathNum) eval(map[string]float64) float64      { return float64(n) }
func (n mathVar) eval(vars map[string]float64) float64 { return vars[string(n)] }
func (n mathUnary) eval(vars map[string]float64) float64 {
	return truth(n.x.eval(vars) == 0)
}

func (n mathBinary) eval(vars map[string]float64) float64 {
	l, r := n.l.eval(vars), n.r.eval(vars)
	switch n.op {
	case "+":
		return l + r
	case "-":
		return l - r
	case "*":
		return l * r
	case "/":
		return l / r
	case ">":
		return truth(l > r)
	case ">=":
		return truth(l >= r)
	case "<":
		return truth(l < r)
	case "<=":
		return truth(l <= r)
	case "==":
		return truth(l == r)
	case "!=":
		return truth(l != r)
	case "&&":
		return truth(l != 0 && r != 0)
	case "||":
		return truth(l != 0 || r != 0)
	}
	return math.NaN()
}

func truth(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// mathParser is a recursive-descent parser over the expression's tokens.
type mathParser struct {
	toks []string
	pos  int
	vars []string // the refs used, in order of first use
}

// mathLevels are the binary operators by precedence, loosest first.
var mathLevels = [][]string{{"||"}, {"&&"}, {"==", "!="}, {">", ">=", "<", "<="}, {"+", "-"}, {"*", "/"}}

// parseMath parses a math expression and returns it with the refs it uses.
func parseMath(expr string) (mathNode, []string, error) {
	toks, err := mathTokens(expr)
	if err != nil {
		return nil, nil, err
	}
	p := &mathParser{toks: toks}
	n, err := p.binary(0)
	if err != nil {
		return nil, nil, err
	}
	if p.pos != len(p.toks) {
		return nil, nil, fmt.Errorf("math %q: unexpected %q", expr, p.toks[p.pos])
	}
	return n, p.vars, nil
}

func mathTokens(expr string) ([]string, error) {
	var toks []string
	for i := 0; i < len(expr); {
		c := expr[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n':
			i++
		case c == '$':
			j := i + 1
			if j < len(expr) && expr[j] == '{' {
				end := strings.IndexByte(expr[j:], '}')
				if end < 0 {
					return nil, fmt.Errorf("math %q: unclosed ${", expr)
				}
				toks = append(toks, "$"+expr[j+1:j+end])
				i = j + end + 1
				continue
			}
			for j < len(expr) && (unicode.IsLetter(rune(expr[j])) || unicode.IsDigit(rune(expr[j])) || expr[j] == '_') {
				j++
			}
			if j == i+1 {
				return nil, fmt.Errorf("math %q: $ without a ref", expr)
			}
			toks = append(toks, expr[i:j])
			i = j
		case c >= '0' && c <= '9' || c == '.':
			j := i
			for j < len(expr) && (expr[j] >= '0' && expr[j] <= '9' || expr[j] == '.' || expr[j] == 'e') {
				j++
			}
			toks = append(toks, expr[i:j])
			i = j
		default:
			if i+1 < len(expr) {
				switch two := expr[i : i+2]; two {
				case ">=", "<=", "==", "!=", "&&", "||":
					toks = append(toks, two)
					i += 2
					continue
				}
			}
			if !strings.ContainsRune("+-*/<>!()", rune(c)) {
				return nil, fmt.Errorf("math %q: unsupported %q", expr, c)
			}
			toks = append(toks, string(c))
			i++
		}
	}
	return toks, nil
}

func (p *mathParser) peek() string {
	if p.pos < len(p.toks) {
		return p.toks[p.pos]
	}
	return ""
}

func (p *mathParser) binary(level int) (mathNode, error) {
	if level == len(mathLevels) {
		return p.unary()
	}
	l, err := p.binary(level + 1)
	if err != nil {
		return nil, err
	}
	for {
		op := p.peek()
		found := false
		for _, o := range mathLevels[level] {
			found = found || o == op
		}
		if !found {
			return l, nil
		}
		p.pos++
		r, err := p.binary(level + 1)
		if err != nil {
			return nil, err
		}
		l = mathBinary{op: op, l: l, r: r}
	}
}

func (p *mathParser) unary() (mathNode, error) {
	tok := p.peek()
	p.pos++
	switch {
	case tok == "":
		return nil, errors.New("math: unexpected end")
	case tok == "!":
		x, err := p.unary()
		return mathUnary{x}, err
	case tok == "-":
		x, err := p.unary()
		return mathBinary{op: "-", l: mathNum(0), r: x}, err
	case tok == "(":
		n, err := p.binary(0)
		if err != nil {
			return nil, err
		}
		if p.peek() != ")" {
			return nil, errors.New("math: missing )")
		}
		p.pos++
		return n, nil
	case strings.HasPrefix(tok, "$"):
		name := tok[1:]
		if !contains(p.vars, name) {
			p.vars = append(p.vars, name)
		}
		return mathVar(name), nil
	}
	f, err := strconv.ParseFloat(tok, 64)
	if err != nil {
		return nil, fmt.Errorf("math: unexpected %q", tok)
	}
	return mathNum(f), nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// evalMath evaluates expr over results, one output series per joined set of
// series; its labels are the union of the joined series' labels.
func evalMath(expr string, results map[string][]alertSeries) ([]alertSeries, error) {
	n, vars, err := parseMath(expr)
	if err != nil {
		return nil, err
	}
	if len(vars) == 0 {
		return []alertSeries{{labels: map[string]string{}, values: []float64{n.eval(nil)}}}, nil
	}
	for _, v := range vars {
		for _, s := range results[v] {
			if len(s.values) != 1 {
				return nil, fmt.Errorf("math over $%s, a series of %d values (reduce it first)", v, len(s.values))
			}
		}
	}
	// Join: start from every series of the first ref, extend with each other ref.
	type joined struct {
		labels map[string]string
		vals   map[string]float64
	}
	rows := make([]joined, 0, len(results[vars[0]]))
	for _, s := range results[vars[0]] {
		rows = append(rows, joined{labels: s.labels, vals: map[string]float64{vars[0]: s.values[0]}})
	}
	for _, v := range vars[1:] {
		var next []joined
		for _, row := range rows {
			for _, s := range results[v] {
				if !labelsJoin(row.labels, s.labels) {
					continue
				}
				labels := make(map[string]string, len(row.labels)+len(s.labels))
				for k, x := range row.labels {
					labels[k] = x
				}
				for k, x := range s.labels {
					labels[k] = x
				}
				vals := make(map[string]float64, len(row.vals)+1)
				for k, x := range row.vals {
					vals[k] = x
				}
				vals[v] = s.values[0]
				next = append(next, joined{labels: labels, vals: vals})
			}
		}
		rows = next
	}
	out := make([]alertSeries, 0, len(rows))
	for _, row := range rows {
		out = append(out, alertSeries{labels: row.labels, values: []float64{n.eval(row.vals)}})
	}
	return out, nil
}

// labelsJoin reports whether two series join: one's labels are a subset of the
// other's (so a series without labels joins every series).
func labelsJoin(a, b map[string]string) bool {
	subset := func(x, y map[string]string) bool {
		for k, v := range x {
			if w, ok := y[k]; !ok || w != v {
				return false
			}
		}
		return true
	}
	return subset(a, b) || subset(b, a)
}

// TestAlertMath checks the math expression on hand-made series.
func TestAlertMath(t *testing.T) {
	results := map[string][]alertSeries{
		"A": {
			{labels: map[string]string{"user": "a"}, values: []float64{60}},
			{labels: map[string]string{"user": "b"}, values: []float64{60}},
			{labels: map[string]string{"user": "c"}, values: []float64{20}},
			{labels: map[string]string{"user": "d"}, values: []float64{80}}, // no baseline: dropped
		},
		"B": {
			{labels: map[string]string{"user": "a"}, values: []float64{1}},
			{labels: map[string]string{"user": "b"}, values: []float64{5}},
			{labels: map[string]string{"user": "c"}, values: []float64{0}},
		},
	}
	out, err := evalMath("$A >= 50 && $A > 20 * ${B}", results)
	require.NoError(t, err)
	got := map[string]float64{}
	for _, s := range out {
		got[s.labels["user"]] = s.values[0]
	}
	require.Equal(t, map[string]float64{"a": 1, "b": 0, "c": 0}, got)

	for expr, want := range map[string]float64{
		"1 + 2 * 3": 7, "(1 + 2) * 3": 9, "-2 + 5": 3, "!(1 > 2)": 1, "4 / 2 == 2 || 0": 1, "3 <= 2": 0, "1 != 1": 0,
	} {
		out, err := evalMath(expr, nil)
		require.NoError(t, err, expr)
		require.InDelta(t, want, out[0].values[0], 1e-9, expr)
	}
	// A ref with one series without labels joins every series.
	out, err = evalMath("$A > $T", map[string][]alertSeries{
		"A": results["A"],
		"T": {{labels: map[string]string{}, values: []float64{50}}},
	})
	require.NoError(t, err)
	require.Len(t, out, 4)
	for _, bad := range []string{"$A >", "$A ? 1", "(1", "$"} {
		_, err := evalMath(bad, results)
		require.Error(t, err, bad)
	}
}
