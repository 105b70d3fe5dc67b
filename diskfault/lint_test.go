package diskfault

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The determinism rules of this package, enforced on its non-test files:
// no wall clock, no timers, and no randomness but a caller's *rand.Rand.

// forbiddenImports cannot be used at all: math/rand (v1) has global state
// and crypto/rand cannot be seeded.
var forbiddenImports = map[string]bool{
	"math/rand":   true,
	"crypto/rand": true,
}

// forbiddenTime lists the functions of package time that read the clock or
// wait on it. time.Time and time.Duration as plain values are fine.
var forbiddenTime = map[string]bool{
	"Now": true, "Since": true, "Until": true, "Sleep": true, "After": true,
	"AfterFunc": true, "Tick": true, "NewTimer": true, "NewTicker": true,
}

// allowedRandV2 lists what may be named from math/rand/v2: the type of the
// caller's source. Everything else, from rand.IntN (the global source) to
// rand.New (a source this package would seed itself), is forbidden.
var allowedRandV2 = map[string]bool{"Rand": true}

func TestLintDeterminism(t *testing.T) {
	names, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	linted := 0
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		source, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		problems, err := lintSource(name, source)
		if err != nil {
			t.Fatal(err)
		}
		for _, problem := range problems {
			t.Error(problem)
		}
		linted++
	}
	if linted < 5 {
		t.Fatalf("linted only %d files: is the test running in the package directory?", linted)
	}
}

// TestLintCatchesViolations keeps the linter honest: each snippet breaks a
// rule and must be reported, and the clean one must not.
func TestLintCatchesViolations(t *testing.T) {
	cases := []struct {
		name     string
		source   string
		problems int
	}{
		{"clean", `package p
import ("math/rand/v2"; "time")
func f(rng *rand.Rand) time.Time { _ = rng.IntN(3); var d time.Duration; _ = d; return time.Time{} }`, 0},
		{"local variable named like the package", `package p
import "time"
func f() { time := struct{ Now int }{}; _ = time.Now }`, 0},
		{"math/rand v1", `package p
import "math/rand"
var _ = rand.Int`, 1},
		{"crypto/rand", `package p
import "crypto/rand"
var _ = rand.Reader`, 1},
		{"time.Now", `package p
import "time"
func f() { _ = time.Now() }`, 1},
		{"renamed time.Sleep", `package p
import clock "time"
func f() { clock.Sleep(1) }`, 1},
		{"global rand/v2", `package p
import "math/rand/v2"
func f() int { return rand.IntN(3) }`, 1},
		{"self-seeded rand/v2", `package p
import "math/rand/v2"
var r = rand.New(rand.NewPCG(1, 2))`, 2},
		{"dot import", `package p
import . "math/rand/v2"
var _ = IntN`, 1},
	}
	for _, c := range cases {
		problems, err := lintSource(c.name+".go", []byte(c.source))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if len(problems) != c.problems {
			t.Errorf("%s: problems %q, want %d", c.name, problems, c.problems)
		}
	}
}

// lintSource returns the determinism problems of one Go source file.
func lintSource(name string, source []byte) ([]string, error) {
	fileSet := token.NewFileSet()
	// Object resolution lets the check below tell a package name from a
	// local variable that shadows it.
	file, err := parser.ParseFile(fileSet, name, source, 0)
	if err != nil {
		return nil, err
	}
	var problems []string
	report := func(node ast.Node, format string, args ...any) {
		problems = append(problems, fmt.Sprintf("%s: %s", fileSet.Position(node.Pos()), fmt.Sprintf(format, args...)))
	}
	// localNames maps the name a file uses for a watched package to its path.
	localNames := make(map[string]string)
	for _, spec := range file.Imports {
		importPath, err := strconv.Unquote(spec.Path.Value)
		if err != nil {
			return nil, err
		}
		if forbiddenImports[importPath] {
			report(spec, "imports %s", importPath)
			continue
		}
		if importPath != "time" && importPath != "math/rand/v2" {
			continue
		}
		local := filepath.Base(importPath)
		if importPath == "math/rand/v2" {
			local = "rand"
		}
		if spec.Name != nil {
			local = spec.Name.Name
		}
		if local == "." {
			report(spec, "dot-imports %s, which hides its uses from this check", importPath)
			continue
		}
		localNames[local] = importPath
	}
	ast.Inspect(file, func(node ast.Node) bool {
		selector, ok := node.(*ast.SelectorExpr)
		if !ok {
			return true
		}
		ident, ok := selector.X.(*ast.Ident)
		if !ok || ident.Obj != nil { // Obj != nil: a local declaration.
			return true
		}
		switch localNames[ident.Name] {
		case "time":
			if forbiddenTime[selector.Sel.Name] {
				report(selector, "calls time.%s: use the simulator's clock", selector.Sel.Name)
			}
		case "math/rand/v2":
			if !allowedRandV2[selector.Sel.Name] {
				report(selector, "uses rand.%s: draw from the caller's *rand.Rand", selector.Sel.Name)
			}
		}
		return true
	})
	return problems, nil
}
