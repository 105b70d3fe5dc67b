package perf

import (
	"math"
	"math/bits"
)

// The histogram is log-linear: values below 2×subBucketCount are counted
// exactly, and every larger power-of-two range [2^k, 2^(k+1)) is split into
// subBucketCount equal buckets. A bucket is therefore never wider than
// 1/subBucketCount of the values it holds (0.78% for 128), and reporting a
// bucket's midpoint is within 0.4% of any value that fell into it.
const (
	subBucketBits  = 7
	subBucketCount = 1 << subBucketBits
	// bucketCount covers every non-negative int64: the largest value has
	// bit length 63, so its shift is 63-(subBucketBits+1) and its index
	// shift*subBucketCount + (value>>shift) stays below this.
	bucketCount = (64 - subBucketBits) * subBucketCount
)

// Histogram counts non-negative int64 values (such as latencies in
// nanoseconds) in log-linear buckets with about 1% relative precision, in the
// manner of an HdrHistogram. Its memory is fixed (about 57 KiB) whatever the
// number or range of values. The zero value is not usable; call NewHistogram.
// A Histogram is not safe for concurrent use.
type Histogram struct {
	counts []int64
	count  int64
	sum    float64
	min    int64
	max    int64
}

// NewHistogram returns an empty histogram.
func NewHistogram() *Histogram {
	return &Histogram{counts: make([]int64, bucketCount), min: math.MaxInt64}
}

// bucketIndex returns the bucket that counts value (value >= 0).
func bucketIndex(value int64) int {
	if value < 2*subBucketCount {
		return int(value)
	}
	shift := bits.Len64(uint64(value)) - (subBucketBits + 1)
	return shift*subBucketCount + int(value>>shift)
}

// bucketBounds returns the smallest value counted by bucket index and the
// bucket's width.
func bucketBounds(index int) (lowest, width int64) {
	if index < 2*subBucketCount {
		return int64(index), 1
	}
	shift := index/subBucketCount - 1
	sub := int64(index - shift*subBucketCount)
	return sub << shift, int64(1) << shift
}

// Record counts one value. Negative values are counted as zero.
func (h *Histogram) Record(value int64) {
	if value < 0 {
		value = 0
	}
	h.counts[bucketIndex(value)]++
	h.count++
	h.sum += float64(value)
	if value < h.min {
		h.min = value
	}
	if value > h.max {
		h.max = value
	}
}

// Count returns how many values were recorded.
func (h *Histogram) Count() int64 { return h.count }

// Min returns the smallest recorded value exactly, or 0 if none was recorded.
func (h *Histogram) Min() int64 {
	if h.count == 0 {
		return 0
	}
	return h.min
}

// Max returns the largest recorded value exactly, or 0 if none was recorded.
func (h *Histogram) Max() int64 { return h.max }

// Mean returns the exact mean of the recorded values, or 0 if none was
// recorded.
func (h *Histogram) Mean() float64 {
	if h.count == 0 {
		return 0
	}
	return h.sum / float64(h.count)
}

// ValueAtQuantile returns the value below or at which the fraction quantile
// (0 to 1; 0.99 is the 99th percentile) of the recorded values fall, to
// within the histogram's precision: the midpoint of the bucket holding that
// rank, clamped to the exact minimum and maximum. Quantile 1 returns the
// exact maximum. It returns 0 for an empty histogram.
func (h *Histogram) ValueAtQuantile(quantile float64) int64 {
	if h.count == 0 {
		return 0
	}
	if quantile >= 1 {
		return h.max
	}
	if quantile < 0 || math.IsNaN(quantile) {
		quantile = 0
	}
	rank := int64(math.Ceil(quantile * float64(h.count)))
	if rank < 1 {
		rank = 1
	}
	var seen int64
	for index, count := range h.counts {
		if count == 0 {
			continue
		}
		seen += count
		if seen >= rank {
			lowest, width := bucketBounds(index)
			value := lowest + (width-1)/2
			return min(max(value, h.min), h.max)
		}
	}
	return h.max
}

// Merge adds every value recorded in other to h.
func (h *Histogram) Merge(other *Histogram) {
	if other.count == 0 {
		return
	}
	for index, count := range other.counts {
		h.counts[index] += count
	}
	h.count += other.count
	h.sum += other.sum
	h.min = min(h.min, other.min)
	h.max = max(h.max, other.max)
}

// Reset empties the histogram, keeping its memory.
func (h *Histogram) Reset() {
	clear(h.counts)
	h.count = 0
	h.sum = 0
	h.min = math.MaxInt64
	h.max = 0
}
