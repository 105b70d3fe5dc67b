package group

import (
	"fmt"
	"slices"
	"strings"

	"cairn/core/mutant"
)

// The coordinator checks its own invariants after every call that can
// change a group, as core.Partition does: a coordinator that went on with
// two owners of one partition, or a stable group without a leader, would
// answer members with assignments and fencing decisions it must not. The
// check covers only the groups the call looked up (touched), so its cost
// is that of the call; Tick, which walks every group, checks every group.

// touch notes that a call looked up group name, so assertInvariants
// checks it.
func (c *Coordinator) touch(name string) {
	if !slices.Contains(c.touched, name) {
		c.touched = append(c.touched, name)
	}
}

// assertInvariants crashes on a broken invariant of a touched group (or of
// the coordinator's own indexes), and forgets the touched groups.
func (c *Coordinator) assertInvariants() {
	touched := c.touched
	c.touched = c.touched[:0]
	if len(c.names) != len(c.groups) {
		panic(fmt.Sprintf("group: coordinator of partition %d lists %d group names for %d groups", c.partition, len(c.names), len(c.groups)))
	}
	for _, name := range touched {
		if g := c.groups[name]; g != nil {
			if err := c.checkGroup(g); err != nil {
				panic(fmt.Sprintf("group: coordinator of partition %d: %v", c.partition, err))
			}
		}
	}
}

// CheckInvariants returns the first broken invariant of any group, or nil:
// for tests, which may call it between any two steps.
func (c *Coordinator) CheckInvariants() error {
	if !slices.IsSorted(c.names) || len(slices.Compact(slices.Clone(c.names))) != len(c.names) {
		return fmt.Errorf("group names %q not sorted and unique", c.names)
	}
	if len(c.names) != len(c.groups) {
		return fmt.Errorf("%d group names for %d groups", len(c.names), len(c.groups))
	}
	for _, name := range c.names {
		g := c.groups[name]
		if g == nil || g.name != name {
			return fmt.Errorf("group name %q has no group of that name", name)
		}
		if err := c.checkGroup(g); err != nil {
			return err
		}
	}
	return nil
}

func (c *Coordinator) checkGroup(g *group) error {
	if g.consumer != nil {
		return checkConsumerGroup(g)
	}
	return checkClassicGroup(g)
}

// checkClassicGroup: members unique; a group past its join phase
// (CompletingRebalance, Stable) has members, a generation, a protocol and
// a leader among its members; an Empty or Dead group has no members; every
// static instance maps to a member with that instance id.
func checkClassicGroup(g *group) error {
	if g.state > Dead {
		return fmt.Errorf("group %q: state %d", g.name, g.state)
	}
	if g.generation < 0 {
		return fmt.Errorf("group %q: generation %d", g.name, g.generation)
	}
	for i, m := range g.members {
		if m.id == "" || slices.ContainsFunc(g.members[:i], func(o *member) bool { return o.id == m.id }) {
			return fmt.Errorf("group %q: member id %q empty or twice", g.name, m.id)
		}
	}
	switch g.state {
	case Empty, Dead:
		if len(g.members) > 0 {
			return fmt.Errorf("group %q: %s with %d members", g.name, g.state, len(g.members))
		}
	case CompletingRebalance, Stable:
		if len(g.members) == 0 || g.generation == 0 || g.protocol == "" {
			return fmt.Errorf("group %q: %s with %d members, generation %d, protocol %q", g.name, g.state, len(g.members), g.generation, g.protocol)
		}
		if g.member(g.leader) == nil {
			return fmt.Errorf("group %q: %s with leader %q, not a member", g.name, g.state, g.leader)
		}
	}
	for instance, id := range g.static {
		if m := g.member(id); m == nil || m.instanceID == nil || *m.instanceID != instance {
			return fmt.Errorf("group %q: static instance %q maps to %q, not a member with that instance id", g.name, instance, id)
		}
	}
	return nil
}

// checkConsumerGroup: the member list is the sorted set of members; the
// owners index is exactly the members' assigned and revoking partitions,
// so no partition has two owners; static instances name members. Epochs
// are not compared: a replay of a compacted log may meet a member's
// record before the group's newer epoch, and every check here must hold
// after each record. (A replayed log may hold a target assignment of a member whose
// own records are gone; it is never served, so it is not checked.)
func checkConsumerGroup(g *group) error {
	cg := g.consumer
	// The assign-before-revoke mutant gives a partition to two members,
	// which breaks the owners index; it skips the check so that the
	// simulator's ownership check must find it.
	if mutant.Active(mutant.AssignBeforeRevoke) {
		return nil
	}
	if len(cg.memberIDs) != len(cg.members) || !slices.IsSorted(cg.memberIDs) {
		return fmt.Errorf("consumer group %q: member list %q for %d members", g.name, cg.memberIDs, len(cg.members))
	}
	owned := 0
	for _, id := range cg.memberIDs {
		m := cg.members[id]
		if m == nil || m.id != id {
			return fmt.Errorf("consumer group %q: member id %q has no member of that id", g.name, id)
		}
		for _, set := range []partitionSet{m.assigned, m.revoking} {
			for _, p := range set {
				if owner := cg.owners[p]; owner != id {
					return fmt.Errorf("consumer group %q: member %q owns %v, which the owners index gives to %q", g.name, id, p, owner)
				}
				owned++
			}
		}
	}
	// Each owned partition counted once per member holding it: more
	// counts than index entries means a partition held twice.
	if owned != len(cg.owners) {
		var stale []string
		for p, id := range cg.owners {
			if m := cg.members[id]; m == nil || !slices.Contains(m.assigned, p) && !slices.Contains(m.revoking, p) {
				stale = append(stale, fmt.Sprintf("%v to %q", p, id))
			}
		}
		slices.Sort(stale)
		return fmt.Errorf("consumer group %q: members hold %d partitions, the owners index has %d (held by no such member: %s)",
			g.name, owned, len(cg.owners), strings.Join(stale, ", "))
	}
	for instance, id := range cg.static {
		if m := cg.members[id]; m == nil || m.instanceID == nil || *m.instanceID != instance {
			return fmt.Errorf("consumer group %q: static instance %q maps to %q, not a member with that instance id", g.name, instance, id)
		}
	}
	return nil
}
