package core

import "fmt"

// EpochEntry says that leader epoch Epoch wrote its first record at
// StartOffset.
type EpochEntry struct {
	Epoch       int32
	StartOffset int64
}

// EpochCache is a replica's leader epoch cache: for each leader epoch whose
// records are in the log, where they begin. Entries are strictly increasing
// in both fields. It is how a follower finds where its log diverges from a
// new leader's (KIP-101): by epoch, never by high watermark.
type EpochCache struct {
	entries []EpochEntry
}

// NewEpochCache builds a cache from checkpointed entries, dropping any that
// do not increase (a torn or stale checkpoint must not poison the cache).
func NewEpochCache(entries []EpochEntry) EpochCache {
	var c EpochCache
	for _, e := range entries {
		c.Assign(e.Epoch, e.StartOffset)
	}
	return c
}

// Entries returns the entries, oldest first. The slice is the cache's own.
func (c *EpochCache) Entries() []EpochEntry { return c.entries }

// Latest returns the newest epoch, or -1 when the cache is empty.
func (c *EpochCache) Latest() int32 {
	if len(c.entries) == 0 {
		return -1
	}
	return c.entries[len(c.entries)-1].Epoch
}

// Assign records that epoch begins at startOffset, if it is newer than the
// latest epoch. It reports whether the cache changed.
func (c *EpochCache) Assign(epoch int32, startOffset int64) bool {
	if n := len(c.entries); n > 0 {
		last := c.entries[n-1]
		if epoch <= last.Epoch {
			return false
		}
		if startOffset < last.StartOffset {
			panic(fmt.Sprintf("core: epoch %d starts at %d, before epoch %d at %d", epoch, startOffset, last.Epoch, last.StartOffset))
		}
		if startOffset == last.StartOffset {
			// The previous epoch wrote nothing: it has no place in the log.
			c.entries[n-1] = EpochEntry{epoch, startOffset}
			return true
		}
	}
	c.entries = append(c.entries, EpochEntry{epoch, startOffset})
	return true
}

// TruncateFrom removes what the cache knows at or beyond offset: epochs that
// start there are gone, because their records are.
func (c *EpochCache) TruncateFrom(offset int64) bool {
	n := len(c.entries)
	for n > 0 && c.entries[n-1].StartOffset >= offset {
		n--
	}
	changed := n != len(c.entries)
	c.entries = c.entries[:n]
	return changed
}

// EndOffsetFor answers OffsetForLeaderEpoch: the largest epoch at or below
// epoch that this log holds, and the offset where it ends — the start of the
// next newer epoch, or logEnd for the latest. With no such epoch it answers
// epoch -1 and the start of the oldest epoch (or logEnd if none): everything
// this log holds is newer than what was asked about.
func (c *EpochCache) EndOffsetFor(epoch int32, logEnd int64) (int32, int64) {
	for i := len(c.entries) - 1; i >= 0; i-- {
		if c.entries[i].Epoch <= epoch {
			if i == len(c.entries)-1 {
				return c.entries[i].Epoch, logEnd
			}
			return c.entries[i].Epoch, c.entries[i+1].StartOffset
		}
	}
	if len(c.entries) == 0 {
		return -1, logEnd
	}
	return -1, c.entries[0].StartOffset
}

// StartOf returns where epoch's records begin, or -1 if it has none.
func (c *EpochCache) StartOf(epoch int32) int64 {
	for _, e := range c.entries {
		if e.Epoch == epoch {
			return e.StartOffset
		}
	}
	return -1
}

// clone copies the cache.
func (c *EpochCache) clone() EpochCache {
	return EpochCache{entries: append([]EpochEntry(nil), c.entries...)}
}

// EpochAt returns the epoch whose records include offset, or -1 if the
// cache knows none.
func (c *EpochCache) EpochAt(offset int64) int32 {
	for i := len(c.entries) - 1; i >= 0; i-- {
		if c.entries[i].StartOffset <= offset {
			return c.entries[i].Epoch
		}
	}
	return -1
}
