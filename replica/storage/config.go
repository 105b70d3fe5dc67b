package storage

import (
	"fmt"
	"math"
	"time"
)

// Limits on Config values. Positions in the offset index are uint32, so a
// segment must stay addressable by one; the header window that Read walks is
// as large as the index interval, so the interval is bounded too.
const (
	segmentBytesLimit       = math.MaxInt32
	indexIntervalBytesLimit = 16 << 20
)

// Config is the per-log configuration. Zero fields take their defaults.
type Config struct {
	// SegmentBytesMax rolls a new segment when the active one would exceed
	// it (Kafka segment.bytes). A batch larger than this still goes into a
	// segment of its own. Default 1 GiB, at most 2 GiB - 1.
	SegmentBytesMax int64
	// SegmentAgeMax rolls a new segment when the active segment's first
	// batch was appended longer ago than this (Kafka segment.ms). Default 7
	// days.
	SegmentAgeMax time.Duration
	// IndexIntervalBytes is the spacing of sparse offset-index entries
	// (Kafka index.interval.bytes): a read walks at most this many bytes of
	// batch headers after its index lookup. Default 4096, at most 16 MiB.
	IndexIntervalBytes int64
}

// DefaultConfig returns Kafka's defaults.
func DefaultConfig() Config {
	return Config{
		SegmentBytesMax:    1 << 30,
		SegmentAgeMax:      7 * 24 * time.Hour,
		IndexIntervalBytes: 4096,
	}
}

// normalized fills zero fields with defaults and checks ranges.
func (c Config) normalized() (Config, error) {
	defaults := DefaultConfig()
	if c.SegmentBytesMax == 0 {
		c.SegmentBytesMax = defaults.SegmentBytesMax
	}
	if c.SegmentAgeMax == 0 {
		c.SegmentAgeMax = defaults.SegmentAgeMax
	}
	if c.IndexIntervalBytes == 0 {
		c.IndexIntervalBytes = defaults.IndexIntervalBytes
	}
	if c.SegmentBytesMax < 0 || c.SegmentBytesMax > segmentBytesLimit {
		return c, fmt.Errorf("%w: SegmentBytesMax %d not in (0, %d]", ErrInvalidConfig, c.SegmentBytesMax, segmentBytesLimit)
	}
	if c.SegmentAgeMax < 0 {
		return c, fmt.Errorf("%w: SegmentAgeMax %v is negative", ErrInvalidConfig, c.SegmentAgeMax)
	}
	if c.IndexIntervalBytes < 0 || c.IndexIntervalBytes > indexIntervalBytesLimit {
		return c, fmt.Errorf("%w: IndexIntervalBytes %d not in (0, %d]", ErrInvalidConfig, c.IndexIntervalBytes, indexIntervalBytesLimit)
	}
	return c, nil
}
