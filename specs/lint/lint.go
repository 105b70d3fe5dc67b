// Package lint checks Go source against the determinism rules of Cairn's
// pure packages: which imports they may not use, and whether they may read
// the clock, draw global randomness or start goroutines. Each pure package
// runs it from an ordinary test, so a violation fails `go test`.
//
// It reads source files, so only tests use it; nothing in the broker does.
package lint

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// Rules say what a package must not do.
type Rules struct {
	// ForbiddenImports are import paths the package may not use.
	ForbiddenImports []string
	// NoClock forbids time.Now, Sleep, After, timers, tickers, Since, Until.
	NoClock bool
	// NoGlobalRandom forbids math/rand/v2's package-level functions, which
	// draw from an unseeded global source.
	NoGlobalRandom bool
	// NoGoroutines forbids go statements.
	NoGoroutines bool
	// Exempt names files (base names) excused from the rules, each with the
	// reason, which the caller documents.
	Exempt map[string]string
}

// Deterministic is the rule set of the packages that run inside the
// simulator: no clock, no global or unseeded randomness, no goroutines, no
// locks, no I/O.
var Deterministic = Rules{
	ForbiddenImports: []string{"math/rand", "crypto/rand", "sync", "sync/atomic", "os", "os/exec", "net", "syscall", "unsafe", "context", "log"},
	NoClock:          true,
	NoGlobalRandom:   true,
	NoGoroutines:     true,
}

var clockFunctions = map[string]bool{
	"Now": true, "Sleep": true, "After": true, "AfterFunc": true, "NewTimer": true,
	"NewTicker": true, "Tick": true, "Since": true, "Until": true,
}

var globalRandomFunctions = map[string]bool{
	"Int": true, "IntN": true, "Int32": true, "Int32N": true, "Int64": true, "Int64N": true,
	"Uint32": true, "Uint32N": true, "Uint64": true, "Uint64N": true, "UintN": true, "N": true,
	"Float32": true, "Float64": true, "ExpFloat64": true, "NormFloat64": true, "Perm": true, "Shuffle": true,
}

// Check applies rules to every non-test Go file directly in dir and returns
// the problems found, sorted. It fails if dir holds no Go file, so that a
// broken path cannot pass silently.
func Check(dir string, rules Rules) ([]string, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return nil, err
	}
	var problems []string
	files := 0
	for _, path := range paths {
		base := filepath.Base(path)
		if strings.HasSuffix(base, "_test.go") {
			continue
		}
		files++
		if _, ok := rules.Exempt[base]; ok {
			continue
		}
		found, err := CheckFile(path, rules)
		if err != nil {
			return nil, err
		}
		problems = append(problems, found...)
	}
	if files == 0 {
		return nil, fmt.Errorf("lint: no Go files in %s", dir)
	}
	sort.Strings(problems)
	return problems, nil
}

// Enforce fails t with every problem Check finds in dir: the one call each
// deterministic package's lint test makes.
func Enforce(t testing.TB, dir string, rules Rules) {
	t.Helper()
	report(t, dir, rules, Check)
}

// EnforceTree is Enforce over dir and every directory below it, for a
// package tree held to one set of rules (core and its subpackages).
func EnforceTree(t testing.TB, dir string, rules Rules) {
	t.Helper()
	report(t, dir, rules, CheckTree)
}

func report(t testing.TB, dir string, rules Rules, check func(string, Rules) ([]string, error)) {
	t.Helper()
	problems, err := check(dir, rules)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Error(p)
	}
}

// CheckTree applies rules to dir and every directory below it.
func CheckTree(dir string, rules Rules) ([]string, error) {
	var problems []string
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() || d.Name() == "testdata" {
			if d != nil && d.IsDir() && d.Name() == "testdata" {
				return filepath.SkipDir
			}
			return err
		}
		if matches, _ := filepath.Glob(filepath.Join(path, "*.go")); len(matches) == 0 {
			return nil
		}
		found, err := Check(path, rules)
		problems = append(problems, found...)
		return err
	})
	return problems, err
}

// CheckFile applies rules to one file.
func CheckFile(path string, rules Rules) ([]string, error) {
	fileSet := token.NewFileSet()
	file, err := parser.ParseFile(fileSet, path, nil, 0)
	if err != nil {
		return nil, err
	}
	var problems []string
	report := func(at token.Pos, what string) {
		problems = append(problems, fileSet.Position(at).String()+": "+what)
	}
	forbidden := map[string]bool{}
	for _, p := range rules.ForbiddenImports {
		forbidden[p] = true
	}
	timeName, randName := "", ""
	for _, spec := range file.Imports {
		importPath, _ := strconv.Unquote(spec.Path.Value)
		if forbidden[importPath] {
			report(spec.Pos(), "imports "+importPath)
		}
		local := ""
		if spec.Name != nil {
			local = spec.Name.Name
		}
		switch importPath {
		case "time":
			timeName = or(local, "time")
		case "math/rand/v2":
			randName = or(local, "rand")
		}
	}
	ast.Inspect(file, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.GoStmt:
			if rules.NoGoroutines {
				report(n.Pos(), "starts a goroutine")
			}
		case *ast.SelectorExpr:
			x, ok := n.X.(*ast.Ident)
			if !ok {
				return true
			}
			if rules.NoClock && timeName != "" && x.Name == timeName && clockFunctions[n.Sel.Name] {
				report(n.Pos(), "reads the clock: time."+n.Sel.Name)
			}
			if rules.NoGlobalRandom && randName != "" && x.Name == randName && globalRandomFunctions[n.Sel.Name] && x.Obj == nil {
				report(n.Pos(), "draws global randomness: rand."+n.Sel.Name)
			}
		}
		return true
	})
	return problems, nil
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
