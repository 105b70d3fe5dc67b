package linearizability

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteReportWritesOnlyIllegalPartitions(t *testing.T) {
	h := History{
		// Partition 0 is illegal: p1 returned before p2 was called, yet p2
		// took the lower offset.
		produced(0, 0, 4, 1, "p1"),
		produced(1, 5, 15, 0, "p2"),
		producedFailed(2, 1, 2, "x"),
		// Partition 1 is fine.
		on(1, produced(0, 0, 4, 0, "q1")),
		on(1, fetched(1, 5, 6, 0, "q1")),
	}
	result := CheckLog(h, 0)
	if result.OK() {
		t.Fatal("CheckLog passed an illegal history")
	}
	dir := t.TempDir()
	paths, err := WriteReport(filepath.Join(dir, "reports"), "seed=7 run", h, result)
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(dir, "reports", "seed_7_run-t-0.html")
	if len(paths) != 1 || paths[0] != want {
		t.Fatalf("paths %v, want [%s]", paths, want)
	}
	content, err := os.ReadFile(paths[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, text := range []string{"<html", "produce [p1] at 1", "not searched", KindRealTimeOrder} {
		if !strings.Contains(string(content), text) {
			t.Errorf("report lacks %q", text)
		}
	}
}

func TestWriteReportRejectsAResultNotFromCheckLog(t *testing.T) {
	result := Result{Partitions: []PartitionResult{{TopicPartition: partitionZero, Verdict: VerdictIllegal}}}
	if _, err := WriteReport(t.TempDir(), "x", nil, result); err == nil {
		t.Fatal("want an error")
	}
}
