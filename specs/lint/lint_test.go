package lint

import (
	"os"
	"path/filepath"
	"testing"
)

// TestLintCatchesEveryRule keeps the checker honest: a file breaking every
// rule must be reported once per breach, and an exempt file not at all.
func TestLintCatchesEveryRule(t *testing.T) {
	dir := t.TempDir()
	bad := `package bad

import (
	"os"
	"math/rand/v2"
	clock "time"
)

var _ = os.Args

func f() {
	_ = clock.Now()
	_ = rand.IntN(3)
	r := rand.New(rand.NewPCG(1, 2))
	_ = r.IntN(3)
	go f()
}
`
	if err := os.WriteFile(filepath.Join(dir, "bad.go"), []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	problems, err := Check(dir, Deterministic)
	if err != nil {
		t.Fatal(err)
	}
	if len(problems) != 4 {
		t.Fatalf("want 4 problems (import, clock, global rand, goroutine), got %d: %v", len(problems), problems)
	}
	rules := Deterministic
	rules.Exempt = map[string]string{"bad.go": "test"}
	if problems, err := Check(dir, rules); err != nil || len(problems) != 0 {
		t.Fatalf("exempt file reported: %v %v", problems, err)
	}
	if _, err := Check(t.TempDir(), Deterministic); err == nil {
		t.Fatal("an empty directory must be an error, not a pass")
	}
}
