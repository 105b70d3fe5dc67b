package sim

import (
	"reflect"
	"testing"

	"cairn/core"
)

// TestStatusEqualSeesEveryField changes each field of a status in turn:
// statusEqual must tell every one apart, or the replica check would be
// skipped after a change it did not see.
func TestStatusEqualSeesEveryField(t *testing.T) {
	base := core.PartitionStatus{Topic: "t", ISR: []int32{0, 1}}
	if !statusEqual(base, base) {
		t.Fatal("a status differs from itself")
	}
	fields := reflect.VisibleFields(reflect.TypeOf(base))
	for _, f := range fields {
		changed := base
		changed.ISR = []int32{0, 1}
		v := reflect.ValueOf(&changed).Elem().FieldByIndex(f.Index)
		switch v.Kind() {
		case reflect.String:
			v.SetString("u")
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			v.SetInt(v.Int() + 1)
		case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			v.SetUint(v.Uint() + 1)
		case reflect.Slice:
			v.Set(reflect.ValueOf([]int32{0, 2}))
		default:
			t.Fatalf("field %s has kind %s, which this test cannot change", f.Name, v.Kind())
		}
		if statusEqual(base, changed) {
			t.Errorf("statusEqual misses a change of %s", f.Name)
		}
	}
}

// TestReplicaCheckCacheOwnsISR overwrites an ISR in place, as a
// leadership change may: the cache must have kept its own copy.
func TestReplicaCheckCacheOwnsISR(t *testing.T) {
	isr := []int32{0, 1, 2}
	live := []core.PartitionStatus{{Topic: "t", ISR: isr}, {Topic: "t", Partition: 1, ISR: []int32{1}}}
	var c replicaCheckCache
	if c.unchanged(live, 0) {
		t.Fatal("an empty cache claims to have seen the statuses")
	}
	c.remember(live, 0)
	if !c.unchanged(live, 0) {
		t.Fatal("the remembered statuses read as changed")
	}
	if c.unchanged(live, 1) {
		t.Fatal("a change of the other inputs goes unseen")
	}
	isr[2] = 3
	if c.unchanged(live, 0) {
		t.Fatal("an ISR overwritten in place goes unseen")
	}
	if c.unchanged(live[:1], 0) {
		t.Fatal("a replica gone from the live list goes unseen")
	}
}
