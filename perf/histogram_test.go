package perf

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestHistogramEmpty(t *testing.T) {
	h := NewHistogram()
	if h.Count() != 0 || h.Min() != 0 || h.Max() != 0 || h.Mean() != 0 || h.ValueAtQuantile(0.5) != 0 {
		t.Fatalf("empty histogram: count %d min %d max %d mean %v p50 %d", h.Count(), h.Min(), h.Max(), h.Mean(), h.ValueAtQuantile(0.5))
	}
}

func TestHistogramSmallValuesExact(t *testing.T) {
	h := NewHistogram()
	for value := int64(1); value <= 100; value++ {
		h.Record(value)
	}
	cases := []struct {
		quantile float64
		want     int64
	}{{0, 1}, {0.01, 1}, {0.5, 50}, {0.99, 99}, {0.999, 100}, {1, 100}}
	for _, c := range cases {
		if got := h.ValueAtQuantile(c.quantile); got != c.want {
			t.Errorf("quantile %v: got %d, want %d", c.quantile, got, c.want)
		}
	}
	if h.Mean() != 50.5 {
		t.Errorf("mean %v, want 50.5", h.Mean())
	}
	if h.Min() != 1 || h.Max() != 100 || h.Count() != 100 {
		t.Errorf("min %d max %d count %d", h.Min(), h.Max(), h.Count())
	}
}

func TestHistogramNegativeCountsAsZero(t *testing.T) {
	h := NewHistogram()
	h.Record(-5)
	if h.Min() != 0 || h.Max() != 0 || h.Count() != 1 {
		t.Fatalf("min %d max %d count %d", h.Min(), h.Max(), h.Count())
	}
}

func TestBucketIndexBounds(t *testing.T) {
	if got := bucketIndex(math.MaxInt64); got != bucketCount-1 {
		t.Fatalf("index of MaxInt64 = %d, want %d", got, bucketCount-1)
	}
	// Every bucket's lowest value maps back to it, and buckets tile the
	// value range with no gap or overlap.
	next := int64(0)
	for index := 0; index < bucketCount; index++ {
		lowest, width := bucketBounds(index)
		if lowest != next {
			t.Fatalf("bucket %d starts at %d, want %d", index, lowest, next)
		}
		if bucketIndex(lowest) != index || bucketIndex(lowest+width-1) != index {
			t.Fatalf("bucket %d [%d, %d] does not map back", index, lowest, lowest+width-1)
		}
		if index >= 2*subBucketCount && float64(width)/float64(lowest) > 1.0/subBucketCount {
			t.Fatalf("bucket %d is %d wide at %d: coarser than 1/%d", index, width, lowest, subBucketCount)
		}
		next = lowest + width
	}
}

func TestHistogramRelativePrecision(t *testing.T) {
	random := rand.New(rand.NewPCG(1, 2))
	h := NewHistogram()
	values := make([]int64, 200_000)
	for i := range values {
		// Log-uniform from 1 µs to 10 s, in nanoseconds.
		values[i] = int64(math.Exp(math.Log(1e3) + random.Float64()*(math.Log(1e10)-math.Log(1e3))))
		h.Record(values[i])
	}
	slices.Sort(values)
	for _, quantile := range []float64{0.01, 0.1, 0.5, 0.9, 0.95, 0.99, 0.999, 0.9999} {
		rank := int(math.Ceil(quantile*float64(len(values)))) - 1
		exact := values[rank]
		got := h.ValueAtQuantile(quantile)
		if relative := math.Abs(float64(got-exact)) / float64(exact); relative > 0.01 {
			t.Errorf("quantile %v: got %d, exact %d (%.3f%% off)", quantile, got, exact, 100*relative)
		}
	}
	if h.Max() != values[len(values)-1] || h.Min() != values[0] {
		t.Errorf("min %d max %d, want %d %d", h.Min(), h.Max(), values[0], values[len(values)-1])
	}
}

func TestHistogramMergeAndReset(t *testing.T) {
	a, b := NewHistogram(), NewHistogram()
	for value := int64(0); value < 1000; value++ {
		a.Record(value * 1000)
		b.Record(value*1000 + 1_000_000)
	}
	a.Merge(b)
	if a.Count() != 2000 || a.Min() != 0 || a.Max() != 1_999_000 {
		t.Fatalf("merged: count %d min %d max %d", a.Count(), a.Min(), a.Max())
	}
	if median := a.ValueAtQuantile(0.5); math.Abs(float64(median-999_000))/999_000 > 0.01 {
		t.Fatalf("merged median %d, want about 999000", median)
	}
	a.Merge(NewHistogram())
	if a.Count() != 2000 {
		t.Fatalf("merging an empty histogram changed the count to %d", a.Count())
	}
	a.Reset()
	if a.Count() != 0 || a.Max() != 0 || a.Min() != 0 || a.ValueAtQuantile(0.99) != 0 {
		t.Fatalf("after reset: count %d min %d max %d", a.Count(), a.Min(), a.Max())
	}
	a.Record(7)
	if a.Min() != 7 || a.Max() != 7 {
		t.Fatalf("after reset and record: min %d max %d", a.Min(), a.Max())
	}
}

func BenchmarkHistogramRecord(b *testing.B) {
	h := NewHistogram()
	for i := 0; b.Loop(); i++ {
		h.Record(int64(i) * 7919)
	}
}
