package controller

import (
	"fmt"
	"slices"
	"testing"

	"pgregory.net/rapid"
)

// TestRebalanceLeadersModel checks RebalanceLeaders against the rule it
// implements, on random images: a partition moves, and then to its
// preferred replica, exactly when its preferred replica does not lead it,
// is in its ISR and unfenced, and leads no more than (100 - percentage)
// per cent of the partitions it is preferred for. Nothing else changes.
func TestRebalanceLeadersModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		image := NewImage()
		apply := func(r Record) {
			if err := image.Apply(r); err != nil {
				t.Fatalf("building the image: %s: %v", r, err)
			}
		}
		brokers := rapid.Int32Range(1, 5).Draw(t, "brokers")
		fenced := map[int32]bool{}
		for id := range brokers {
			apply(RegisterBroker{ID: id, Host: "h", Port: 9092 + id, Incarnation: 1})
			if fenced[id] = rapid.IntRange(0, 3).Draw(t, "fenced") == 0; !fenced[id] {
				apply(UnfenceBroker{ID: id})
			}
		}
		for topic := range rapid.IntRange(1, 3).Draw(t, "topics") {
			name := fmt.Sprintf("t%d", topic)
			id := TopicID{byte(topic + 1)}
			apply(CreateTopic{Name: name, ID: id})
			for p := range rapid.Int32Range(1, 6).Draw(t, "partitions") {
				ids := make([]int32, brokers)
				for i := range ids {
					ids[i] = int32(i)
				}
				replicas := rapid.Permutation(ids).Draw(t, "order")[:rapid.IntRange(1, int(brokers)).Draw(t, "rf")]
				var isr []int32
				for _, r := range replicas {
					if rapid.Bool().Draw(t, "inISR") {
						isr = append(isr, r)
					}
				}
				if len(isr) == 0 {
					isr = []int32{replicas[len(replicas)-1]}
				}
				leader := NoLeader
				var eligible []int32
				for _, r := range isr {
					if !fenced[r] {
						eligible = append(eligible, r)
					}
				}
				if len(eligible) > 0 {
					leader = rapid.SampledFrom(eligible).Draw(t, "leader")
				}
				apply(PartitionRecord{Topic: name, TopicID: id, Partition: p, Replicas: slices.Clone(replicas), ISR: isr, Leader: leader})
			}
		}
		percentage := rapid.Int32Range(0, 100).Draw(t, "percentage")

		preferred, off := map[int32]int{}, map[int32]int{}
		for _, topic := range image.Topics() {
			for _, p := range image.Partitions(topic.Name) {
				preferred[p.Replicas[0]]++
				if p.Leader != p.Replicas[0] {
					off[p.Replicas[0]]++
				}
			}
		}
		c := New(Config{}, image)
		moved := c.RebalanceLeaders(epoch, percentage)
		after := c.Image()
		want := 0
		for _, topic := range image.Topics() {
			for _, p := range image.Partitions(topic.Name) {
				pref := p.Replicas[0]
				ratioAbove := float64(off[pref])/float64(preferred[pref]) > float64(percentage)/100
				shouldMove := ratioAbove && p.Leader != pref && slices.Contains(p.ISR, pref) && !fenced[pref]
				q, _ := after.Partition(p.Topic, p.Partition)
				switch {
				case shouldMove && q.Leader != pref:
					t.Fatalf("%s-%d: preferred %d (%d of %d off, %d%%) can lead, leader still %d", p.Topic, p.Partition, pref, off[pref], preferred[pref], percentage, q.Leader)
				case !shouldMove && (q.Leader != p.Leader || q.LeaderEpoch != p.LeaderEpoch):
					t.Fatalf("%s-%d: moved from %d to %d, but preferred %d: %d of %d off at %d%%, isr %v", p.Topic, p.Partition, p.Leader, q.Leader, pref, off[pref], preferred[pref], percentage, p.ISR)
				case !slices.Equal(q.ISR, p.ISR):
					t.Fatalf("%s-%d: isr %v became %v", p.Topic, p.Partition, p.ISR, q.ISR)
				}
				if shouldMove {
					want++
				}
			}
		}
		if moved != want || len(c.Ready().Records) != want {
			t.Fatalf("moved %d with %d records, want %d", moved, len(c.Ready().Records), want)
		}
		if err := after.CheckInvariants(); err != nil {
			t.Fatal(err)
		}
	})
}
