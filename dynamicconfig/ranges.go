package dynamicconfig

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// The server's loader checks a value's type only: -1 for limit.maxIDLength
// passes it and then stops a service at start ("goroutine exited without
// returning"). The registry states no ranges, but its defaults imply one:
// no int, float or duration setting of the pinned server defaults to a
// negative value, and none says what a negative value would mean. So a
// negative value is refused for a setting whose default is zero or more,
// unless its description gives negative values a meaning (say "-1 means
// unlimited"), which a later server may do.

// negativeMeaning matches a description that gives negative values a
// meaning: "negative", "-1", "less than zero" (not "+/-10%").
var negativeMeaning = regexp.MustCompile(`(?i)\bnegative\b|(^|[\s(=:,'"])-1\b|\bless than (zero|0)\b|\bbelow zero\b`)

// nonNegative reports whether s takes no negative value (see above).
func (s Setting) nonNegative() bool {
	switch s.Type {
	case "int", "float", "duration":
	default:
		return false
	}
	if negativeMeaning.MatchString(s.Description) {
		return false
	}
	if v, ok := evalDefault(s.Default); ok {
		return v >= 0
	}
	// A named constant or function the source text does not spell out
	// (primitives.DefaultTransactionSizeLimit): with no minus sign in the
	// text it is one of the server's positive limits.
	return !strings.Contains(s.Default, "-")
}

// checkRange returns what is wrong with a value of s that has the right
// type but is out of the setting's range, or "" when it is in range. v is
// the value as the server's loader keeps it (ints, floats, duration strings
// or numbers of seconds).
func checkRange(s Setting, v any) string {
	if !s.nonNegative() || !negative(s.Type, v) {
		return ""
	}
	return fmt.Sprintf("is negative; use 0 or more (default %s)", s.Default)
}

// negative reports whether v, a value of a setting of type typ, is below
// zero.
func negative(typ string, v any) bool {
	switch x := v.(type) {
	case int:
		return x < 0
	case int64:
		return x < 0
	case float64:
		return x < 0
	case time.Duration:
		return x < 0
	case string:
		if typ != "duration" {
			return false
		}
		// "-1s", "-2d" (the server also takes days): negative unless every
		// digit is zero ("-0s").
		rest, ok := strings.CutPrefix(strings.TrimSpace(x), "-")
		return ok && strings.ContainsAny(rest, "123456789")
	}
	return false
}

// evalDefault evaluates the Go source text of a numeric default
// ("10 * 1024", "5*time.Minute - 10*time.Second"); durations come out in
// nanoseconds. ok is false for anything but constant arithmetic.
func evalDefault(src string) (float64, bool) {
	e, err := parser.ParseExpr(src)
	if err != nil {
		return 0, false
	}
	return eval(e)
}

var namedConstants = map[string]float64{
	"time.Nanosecond":  float64(time.Nanosecond),
	"time.Microsecond": float64(time.Microsecond),
	"time.Millisecond": float64(time.Millisecond),
	"time.Second":      float64(time.Second),
	"time.Minute":      float64(time.Minute),
	"time.Hour":        float64(time.Hour),
	"math.MaxInt":      math.MaxInt,
	"math.MaxInt32":    math.MaxInt32,
	"math.MaxInt64":    math.MaxInt64,
}

func eval(e ast.Expr) (float64, bool) {
	switch x := e.(type) {
	case *ast.BasicLit:
		if x.Kind != token.INT && x.Kind != token.FLOAT {
			return 0, false
		}
		v, err := strconv.ParseFloat(strings.ReplaceAll(x.Value, "_", ""), 64)
		return v, err == nil
	case *ast.ParenExpr:
		return eval(x.X)
	case *ast.UnaryExpr:
		v, ok := eval(x.X)
		switch x.Op {
		case token.SUB:
			return -v, ok
		case token.ADD:
			return v, ok
		}
	case *ast.BinaryExpr:
		a, okA := eval(x.X)
		b, okB := eval(x.Y)
		if !okA || !okB {
			return 0, false
		}
		switch x.Op {
		case token.ADD:
			return a + b, true
		case token.SUB:
			return a - b, true
		case token.MUL:
			return a * b, true
		case token.QUO:
			if b != 0 {
				return a / b, true
			}
		}
	case *ast.SelectorExpr:
		if pkg, ok := x.X.(*ast.Ident); ok {
			v, ok := namedConstants[pkg.Name+"."+x.Sel.Name]
			return v, ok
		}
	case *ast.CallExpr:
		// Conversions: time.Duration(n), int64(n), float64(n).
		if len(x.Args) == 1 {
			switch f := x.Fun.(type) {
			case *ast.Ident:
				if f.Name == "int" || f.Name == "int64" || f.Name == "int32" || f.Name == "float64" {
					return eval(x.Args[0])
				}
			case *ast.SelectorExpr:
				if pkg, ok := f.X.(*ast.Ident); ok && pkg.Name == "time" && f.Sel.Name == "Duration" {
					return eval(x.Args[0])
				}
			}
		}
	}
	return 0, false
}
