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

// TestConsumerMutantBreaksProperties re-introduces the consumer-protocol
// mutant (a member is handed its whole target before the previous owners
// revoked) and checks that the model of consumer_rapid_test.go reports it
// on a short story: A owns every partition of t, B joins subscribing to t.
func TestConsumerMutantBreaksProperties(t *testing.T) {
	defer mutant.Set(mutant.None)
	story := func(m *consumerModel) {
		m.heartbeat("A", true)
		m.appends(true)
		m.subscribe("B", 0)
		m.appends(true)
		m.check()
	}
	if err := mutant.Set(mutant.AssignBeforeRevoke); err != nil {
		t.Fatal(err)
	}
	m := newConsumerModel()
	story(m)
	if m.violation == "" {
		t.Errorf("mutant %s: no property broken", mutant.AssignBeforeRevoke)
	} else {
		t.Logf("mutant %s caught: %s", mutant.AssignBeforeRevoke, m.violation)
	}
	mutant.Set(mutant.None)
	m = newConsumerModel()
	story(m)
	m.converge()
	if m.violation != "" {
		t.Errorf("without the mutant: %s", m.violation)
	}
}
