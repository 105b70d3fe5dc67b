package group

import (
	"slices"
	"sort"
)

// The server-side assignors. Both are pure functions of the members (by
// sorted id), their subscriptions, the topics and, for stickiness, the
// previous target; neither reads a map into its output unsorted.

// chooseAssignor picks the assignor the most members ask for (ties to the
// name first in order), or the configured default when nobody asks.
func (c *Coordinator) chooseAssignor(cg *consumerGroup) string {
	counts := map[string]int{}
	for _, id := range cg.memberIDs {
		if a := cg.members[id].serverAssignor; a != nil && *a != "" {
			counts[*a]++
		}
	}
	best, bestCount := "", 0
	for _, name := range []string{AssignorRange, AssignorUniform} {
		if counts[name] > bestCount {
			best, bestCount = name, counts[name]
		}
	}
	if best == "" {
		return c.config.DefaultAssignor
	}
	return best
}

// computeTarget computes the target assignment of the group's epoch.
func (c *Coordinator) computeTarget(cg *consumerGroup) map[string]partitionSet {
	cg.assignor = c.chooseAssignor(cg)
	subscribers := map[string][]string{} // topic -> member ids subscribed, sorted
	for _, t := range cg.subscribedTopics {
		for _, id := range cg.memberIDs {
			if cg.members[id].subscribes(t.name) {
				subscribers[t.name] = append(subscribers[t.name], id)
			}
		}
	}
	if cg.assignor == AssignorRange {
		return rangeAssign(cg.memberIDs, cg.subscribedTopics, subscribers)
	}
	return uniformAssign(cg.memberIDs, cg.subscribedTopics, subscribers, cg.target)
}

// rangeAssign gives each member of a topic's subscribers a contiguous
// range of its partitions: the first P mod M members (by id) one more.
func rangeAssign(memberIDs []string, topics []topicMeta, subscribers map[string][]string) map[string]partitionSet {
	out := make(map[string]partitionSet, len(memberIDs))
	for _, t := range topics {
		ids := subscribers[t.name]
		if len(ids) == 0 {
			continue
		}
		per, extra := int(t.partitions)/len(ids), int(t.partitions)%len(ids)
		next := int32(0)
		for i, id := range ids {
			n := per
			if i < extra {
				n++
			}
			for k := 0; k < n; k++ {
				out[id] = append(out[id], topicPartitionID{t.id, next})
				next++
			}
		}
	}
	for id, set := range out {
		out[id] = set.normalize()
	}
	return out
}

// uniformAssign spreads partitions evenly over the members subscribed to
// them, keeping each partition where the previous target put it when that
// member still subscribes and is not above its fair share: the sticky
// "uniform" assignor.
func uniformAssign(memberIDs []string, topics []topicMeta, subscribers map[string][]string,
	previous map[string]partitionSet) map[string]partitionSet {
	out := make(map[string]partitionSet, len(memberIDs))
	count := make(map[string]int, len(memberIDs))
	for _, id := range memberIDs {
		count[id] = 0
	}
	eligible := map[topicPartitionID][]string{}
	var all []topicPartitionID
	for _, t := range topics {
		for p := int32(0); p < t.partitions; p++ {
			tp := topicPartitionID{t.id, p}
			if ids := subscribers[t.name]; len(ids) > 0 {
				eligible[tp] = ids
				all = append(all, tp)
			}
		}
	}
	if len(all) == 0 || len(memberIDs) == 0 {
		return out
	}
	// A member's fair share: every partition split over the members that
	// can take any; balancing below evens out differing subscriptions.
	quota := (len(all) + len(memberIDs) - 1) / len(memberIDs)
	taken := map[topicPartitionID]bool{}
	for _, id := range memberIDs {
		for _, tp := range previous[id] {
			if count[id] >= quota || taken[tp] {
				continue
			}
			if _, ok := slices.BinarySearch(eligible[tp], id); !ok {
				continue
			}
			out[id] = append(out[id], tp)
			count[id]++
			taken[tp] = true
		}
	}
	for _, tp := range all {
		if taken[tp] {
			continue
		}
		best := ""
		for _, id := range eligible[tp] {
			if best == "" || count[id] < count[best] {
				best = id
			}
		}
		out[best] = append(out[best], tp)
		count[best]++
		taken[tp] = true
	}
	balance(out, count, eligible)
	for id, set := range out {
		out[id] = set.normalize()
	}
	return out
}

// balance moves partitions from the most loaded member to an eligible one
// with at least two fewer, until no move helps. Each move lowers the sum
// of squared counts, so the loop ends; it is bounded anyway.
func balance(out map[string]partitionSet, count map[string]int, eligible map[topicPartitionID][]string) {
	ids := make([]string, 0, len(out))
	for id := range count {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	movesMax := len(eligible) * 4
	for moves := 0; moves < movesMax; moves++ {
		moved := false
		sort.SliceStable(ids, func(i, j int) bool { return count[ids[i]] > count[ids[j]] })
		for _, from := range ids {
			for i, tp := range out[from] {
				for _, to := range eligible[tp] {
					if count[to]+2 <= count[from] {
						out[from] = slices.Delete(slices.Clone(out[from]), i, i+1)
						out[to] = append(out[to], tp)
						count[from]--
						count[to]++
						moved = true
						break
					}
				}
				if moved {
					break
				}
			}
			if moved {
				break
			}
		}
		if !moved {
			return
		}
	}
}
