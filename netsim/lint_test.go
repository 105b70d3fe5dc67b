package netsim

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// lintForbiddenImports are packages through which the wall clock, global or
// unseeded randomness, concurrency or I/O would enter the network. The
// seeded math/rand/v2 is allowed: its *rand.Rand is always the caller's.
var lintForbiddenImports = map[string]bool{
	"math/rand": true, "crypto/rand": true, "sync": true, "sync/atomic": true,
	"os": true, "os/exec": true, "net": true, "syscall": true, "unsafe": true,
}

// lintForbiddenTimeFunctions read the clock or schedule work.
var lintForbiddenTimeFunctions = map[string]bool{
	"Now": true, "Sleep": true, "After": true, "AfterFunc": true, "NewTimer": true,
	"NewTicker": true, "Tick": true, "Since": true, "Until": true,
}

// lintForbiddenRandomFunctions draw from math/rand/v2's global source.
var lintForbiddenRandomFunctions = map[string]bool{
	"Int": true, "IntN": true, "Int32": true, "Int32N": true, "Int64": true, "Int64N": true,
	"Uint32": true, "Uint32N": true, "Uint64": true, "Uint64N": true, "UintN": true, "N": true,
	"Float32": true, "Float64": true, "ExpFloat64": true, "NormFloat64": true, "Perm": true,
	"Shuffle": true,
}

// TestNetsimIsDeterministic fails if a non-test file of the package imports
// what the package doc forbids, reads the clock, draws global randomness, or
// starts a goroutine.
func TestNetsimIsDeterministic(t *testing.T) {
	paths, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	files := 0
	for _, path := range paths {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		files++
		for _, problem := range lintFile(t, path) {
			t.Error(problem)
		}
	}
	if files == 0 {
		t.Fatal("lint found no files")
	}
}

// lintFile returns the rule violations in one Go file.
func lintFile(t *testing.T, path string) []string {
	t.Helper()
	fileSet := token.NewFileSet()
	file, err := parser.ParseFile(fileSet, path, nil, 0)
	if err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	var problems []string
	report := func(at token.Pos, what string) {
		problems = append(problems, fileSet.Position(at).String()+": "+what)
	}
	importedAs := map[string]string{} // local name → import path, for time and math/rand/v2
	for _, spec := range file.Imports {
		importPath, _ := strconv.Unquote(spec.Path.Value)
		if lintForbiddenImports[importPath] {
			report(spec.Pos(), "imports "+importPath)
		}
		name := filepath.Base(importPath)
		if importPath == "math/rand/v2" {
			name = "rand"
		}
		if spec.Name != nil {
			name = spec.Name.Name
		}
		importedAs[name] = importPath
	}
	ast.Inspect(file, func(node ast.Node) bool {
		switch node := node.(type) {
		case *ast.GoStmt:
			report(node.Pos(), "starts a goroutine")
		case *ast.SelectorExpr:
			receiver, ok := node.X.(*ast.Ident)
			if !ok {
				return true
			}
			switch importedAs[receiver.Name] {
			case "time":
				if lintForbiddenTimeFunctions[node.Sel.Name] {
					report(node.Pos(), "uses time."+node.Sel.Name)
				}
			case "math/rand/v2":
				if lintForbiddenRandomFunctions[node.Sel.Name] {
					report(node.Pos(), "uses the global rand."+node.Sel.Name)
				}
			}
		}
		return true
	})
	return problems
}

// TestLintCatchesViolations keeps the lint honest: a file that breaks every
// rule must produce a problem for each.
func TestLintCatchesViolations(t *testing.T) {
	source := `package bad

import (
	legacy "math/rand"
	"math/rand/v2"
	"net"
	clock "time"
)

var _ = legacy.Int
var _ net.Conn

func f(rng *rand.Rand) {
	_ = clock.Now()
	clock.Sleep(1)
	_ = rand.IntN(3)
	_ = rng.IntN(3) // allowed: the caller's source
	go f(rng)
}
`
	path := filepath.Join(t.TempDir(), "bad.go")
	if err := os.WriteFile(path, []byte(source), 0o644); err != nil {
		t.Fatal(err)
	}
	problems := lintFile(t, path)
	if len(problems) != 6 {
		t.Fatalf("lint found %d problems, want 6:\n%s", len(problems), strings.Join(problems, "\n"))
	}
}
