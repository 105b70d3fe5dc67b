// Package storage is a partition's log on disk: segment files that hold Kafka
// v2 record batches byte for byte as they were appended, with sparse offset
// and time indexes beside them, a recovery-point checkpoint and a
// clean-shutdown marker.
//
// The log is crash-safe: Open validates everything that was not known to be
// synced (length, magic, CRC-32C, contiguous offsets, record count) and
// truncates at the first torn or corrupt batch, so a corrupt batch is never
// served. Durability is explicit: Append only reaches the page cache, and a
// SyncJob (PrepareSync, Run, CompleteSync) makes a prefix durable, so that the
// broker can group-commit and run the fsyncs on another goroutine.
//
// The same code runs in the deterministic simulator over diskfault.Mem, so
// this package must never read the wall clock (time comes in as parameters),
// never use global randomness, and never start goroutines of its own. It must
// never panic on disk content: bad bytes are errors, and recovery repairs
// them by truncation.
//
// # Files
//
// A log lives in one directory:
//
//	00000000000000000000.log        batches, as appended; the name is the base offset
//	00000000000000000000.index      offset index: (offset - base uint32, position uint32), big-endian
//	00000000000000000000.timeindex  time index: (max timestamp int64, offset - base uint32), big-endian
//	recovery-point                  checkpoint: segments that end at or below it are synced and indexed
//	clean-shutdown                  written last by Close; removed (durably) by Open
//	*.tmp                           checkpoints being written; removed by Open
//
// Index files are derived data. They are written when a segment rolls and on
// Close, never per batch; while a segment is active its indexes live only in
// memory, and after an unclean shutdown recovery rebuilds them by scanning.
package storage
