//go:build cairn_mutants

package controller

import (
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"

	"cairn/core/mutant"
)

// TestStaleAlterPartitionMutant: broker 0 leads t-0 with broker 1. It
// shrinks the ISR to [0], takes 1 back, and shrinks it out again (1 fell
// behind once more). The expansion that took 1 back, delivered again (a
// retry, or a copy held on an old connection), names partition epoch 1
// where the partition is at 3: it must be refused INVALID_UPDATE_VERSION.
// Mutant stale-alter-partition accepts it and puts the lagging replica 1
// back into the ISR. (The simulator catches the same mutant with its
// delay-request and duplicate-request faults: TestMutants in sim.)
func TestStaleAlterPartitionMutant(t *testing.T) {
	defer mutant.Set(mutant.None)
	story := func() (*kerr.Error, []int32) {
		c := newCluster(Config{})
		for id := int32(0); id < 2; id++ {
			if err := c.controller.RegisterBroker(c.now, RegisterBroker{ID: id, Host: "h", Port: 9092, Incarnation: 1}); err != nil {
				t.Fatal(err)
			}
			c.controller.Heartbeat(c.now, id, 1, true)
		}
		if err := c.controller.CreateTopic(c.now, "t", 1, 2, nil); err != nil {
			t.Fatal(err)
		}
		alter := func(partitionEpoch int32, isr ...int32) *kerr.Error {
			err := c.controller.AlterPartition(c.now, "t", 0, 0, 0, partitionEpoch, isr)
			if _, commitErr := c.commit(); commitErr != nil {
				t.Fatal(commitErr)
			}
			return err
		}
		if _, err := c.commit(); err != nil {
			t.Fatal(err)
		}
		if p, _ := c.committed.Partition("t", 0); p.Leader != 0 || p.PartitionEpoch != 0 || len(p.ISR) != 2 {
			t.Fatalf("setup: %+v, want leader 0, ISR [0 1] at partition epoch 0", p)
		}
		for i, step := range []struct {
			epoch int32
			isr   []int32
		}{{0, []int32{0}}, {1, []int32{0, 1}}, {2, []int32{0}}} {
			if err := alter(step.epoch, step.isr...); err != nil {
				t.Fatalf("step %d: AlterPartition %v at partition epoch %d: %v", i, step.isr, step.epoch, err)
			}
		}
		err := alter(1, 0, 1)
		p, _ := c.committed.Partition("t", 0)
		return err, p.ISR
	}
	if err, isr := story(); err != kerr.InvalidUpdateVersion || !slices.Equal(isr, []int32{0}) {
		t.Fatalf("the stale expansion: %v, ISR %v; want INVALID_UPDATE_VERSION and ISR [0]", err, isr)
	}
	if err := mutant.Set(mutant.StaleAlterPartition); err != nil {
		t.Fatal(err)
	}
	if err, isr := story(); err != nil || !slices.Equal(isr, []int32{0, 1}) {
		t.Fatalf("with mutant %s the stale expansion: %v, ISR %v; want it accepted with ISR [0 1]", mutant.StaleAlterPartition, err, isr)
	}
}
