package core

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// forbiddenImports are packages through which nondeterminism or I/O would
// enter the core.
var forbiddenImports = map[string]bool{
	"math/rand": true, "math/rand/v2": true, "crypto/rand": true,
	"os": true, "net": true, "sync": true, "sync/atomic": true,
	"context": true, "log": true, "log/slog": true, "io/ioutil": true,
	"os/exec": true, "syscall": true, "unsafe": true, "reflect": false,
}

// forbiddenTimeCalls read the clock or schedule work.
var forbiddenTimeCalls = map[string]bool{
	"Now": true, "Sleep": true, "After": true, "AfterFunc": true, "NewTimer": true,
	"NewTicker": true, "Tick": true, "Since": true, "Until": true,
}

// TestCoreIsPure fails if any non-test file under core/ imports what the
// design forbids, reads the clock, or starts a goroutine.
func TestCoreIsPure(t *testing.T) {
	files := 0
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		files++
		for _, problem := range lintFile(t, path) {
			t.Errorf("%s", problem)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files == 0 {
		t.Fatal("lint found no files: the walk is broken")
	}
}

// lintFile returns the problems in one file.
func lintFile(t *testing.T, path string) []string {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, nil, 0)
	if err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	var problems []string
	timeName := ""
	for _, imp := range f.Imports {
		p, _ := strconv.Unquote(imp.Path.Value)
		if forbiddenImports[p] {
			problems = append(problems, fset.Position(imp.Pos()).String()+": imports "+p)
		}
		if p == "time" {
			timeName = "time"
			if imp.Name != nil {
				timeName = imp.Name.Name
			}
		}
	}
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.GoStmt:
			problems = append(problems, fset.Position(n.Pos()).String()+": starts a goroutine")
		case *ast.SelectorExpr:
			if x, ok := n.X.(*ast.Ident); ok && timeName != "" && x.Name == timeName && forbiddenTimeCalls[n.Sel.Name] {
				problems = append(problems, fset.Position(n.Pos()).String()+": uses time."+n.Sel.Name)
			}
		}
		return true
	})
	return problems
}

// TestLintCatchesViolations keeps the lint honest: a file that breaks every
// rule must produce a problem for each.
func TestLintCatchesViolations(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bad.go")
	src := "package bad\nimport (\n\"os\"\n\"sync\"\nclock \"time\"\n)\nvar _ = os.Args\nvar _ sync.Mutex\nfunc f() { _ = clock.Now(); go f() }\n"
	if err := writeFile(path, src); err != nil {
		t.Fatal(err)
	}
	if got := lintFile(t, path); len(got) != 4 {
		t.Fatalf("lint found %d problems, want 4: %v", len(got), got)
	}
}
