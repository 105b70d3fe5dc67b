//go:build cairn_mutants

package group

import (
	"testing"
	"time"

	"cairn/core/mutant"
)

// TestMutantsBreakProperties re-introduces each group mutant and checks
// that the property model of rapid_test.go reports it on a short story.
func TestMutantsBreakProperties(t *testing.T) {
	defer mutant.Set(mutant.None)
	stories := []struct {
		id    mutant.ID
		story func(m *model)
	}{
		{mutant.CommitFromStaleGeneration, func(m *model) {
			m.join("A")
			m.join("A")
			m.sync("A", false)
			m.appends(true)
			m.commit("A", 5, true)
			m.appends(true)
		}},
		{mutant.StableBeforeAllSynced, func(m *model) {
			m.join("A")
			m.join("A")
			m.join("B")
			m.join("B")
			m.heartbeat("A")
			m.join("A")
			m.sync("B", false)
			m.sync("A", false)
		}},
	}
	for _, s := range stories {
		if err := mutant.Set(s.id); err != nil {
			t.Fatal(err)
		}
		m := newModel()
		s.story(m)
		m.tick(time.Second)
		m.check()
		if m.violation == "" {
			t.Errorf("mutant %s: no property broken", s.id)
		} else {
			t.Logf("mutant %s caught: %s", s.id, m.violation)
		}
	}
	// The same stories break nothing without the mutants.
	mutant.Set(mutant.None)
	for _, s := range stories {
		m := newModel()
		s.story(m)
		m.tick(time.Second)
		m.check()
		if m.violation != "" {
			t.Errorf("without mutant %s: %s", s.id, m.violation)
		}
	}
}
