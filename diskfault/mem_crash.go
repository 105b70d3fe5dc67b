package diskfault

import (
	"errors"
	"maps"
	"math/rand/v2"
	"slices"
)

// Keep says what a crash does with state that was never synced.
type Keep uint8

const (
	// KeepNever drops every unsynced write, size change and directory
	// change: the filesystem comes back exactly as last synced. It is the
	// zero value because it is the strictest outcome a correct program must
	// survive.
	KeepNever Keep = iota
	// KeepAlways keeps every unsynced change, as if everything had been
	// synced just before the power went out.
	KeepAlways
	// KeepRandom decides by seeded choice; see CrashWith.
	KeepRandom
)

// String names the policy.
func (k Keep) String() string {
	switch k {
	case KeepNever:
		return "KeepNever"
	case KeepAlways:
		return "KeepAlways"
	case KeepRandom:
		return "KeepRandom"
	}
	return "Keep(invalid)"
}

// CrashOptions configures CrashWith.
type CrashOptions struct {
	// KeepUnsynced decides the fate of unsynced state.
	KeepUnsynced Keep
	// Rand draws every choice of KeepRandom; it is required for
	// KeepRandom and unused otherwise.
	Rand *rand.Rand
}

// Crash simulates power loss with KeepRandom choices drawn from rng; a nil
// rng means KeepNever. See CrashWith.
func (m *Mem) Crash(rng *rand.Rand) {
	options := CrashOptions{KeepUnsynced: KeepRandom, Rand: rng}
	if rng == nil {
		options.KeepUnsynced = KeepNever
	}
	err := m.CrashWith(options)
	assert(err == nil, "Crash built invalid options: %v", err)
}

// CrashWith simulates power loss followed by a reboot. Every handle opened
// before it is dead: each later call on one returns an error wrapping
// ErrCrashed. What survives is the durable state plus a choice, made by
// options.KeepUnsynced, over what was not synced:
//
// Directory entries. Every Create of a new file, Remove, Rename and each
// directory that MkdirAll or RemoveAll created or removed is one numbered
// change, and a directory's Sync persists its changes. A crash keeps the
// unsynced changes numbered below a cut: none (KeepNever), all
// (KeepAlways), or a prefix of them in the order they were made, with the
// prefix length drawn uniformly (KeepRandom). The prefix models a
// journaling filesystem, which commits metadata in order; a Rename is one
// change and never half-applied. A Rename between two directories of which
// only one was synced can leave the file under both names (a hard link, as
// far as Mem is concerned) or under neither; a directory that ends up in
// two places is kept only in the first, in sorted walk order.
//
// File contents. Each file reachable after the above keeps its durable
// image and then, for what was not synced:
//
//   - Size: with KeepNever the durable size, with KeepAlways the current
//     size; with KeepRandom, with equal odds, the durable size, the current
//     size or a uniformly drawn size between them.
//   - Data: each 4 KiB page below that size where the durable and current
//     images may differ (a page written since the last Sync, or past the
//     smallest size the file had since) is dropped (KeepNever), kept
//     (KeepAlways), or with KeepRandom, with equal odds, kept whole, dropped,
//     or torn: each of its 512 B sectors kept or dropped with even odds.
//     A kept byte has its latest written value, a dropped one its durable
//     value; either reads as zero past the end of its image. Every other
//     page keeps its synced content.
//
// Files are visited depth first, each directory's entries in sorted order,
// each file once, and for each the size is drawn before its pages in
// ascending order, so the same operations and the same seed give
// byte-identical results. After the crash everything is
// synced: a second crash changes nothing.
//
// It returns an error, and changes nothing, when the options are invalid.
func (m *Mem) CrashWith(options CrashOptions) error {
	switch {
	case options.KeepUnsynced > KeepRandom:
		return errors.New("diskfault: CrashWith: invalid KeepUnsynced")
	case options.KeepUnsynced == KeepRandom && options.Rand == nil:
		return errNoRand
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.epoch++
	cut := m.chooseCut(options)
	// Each directory's outcome depends on its changes only, so the map's
	// order cannot reach the result.
	for directory := range m.changedDirectories {
		directory.persistChanges(cut)
	}
	clear(m.changedDirectories)
	m.usedBytes = 0
	m.root.handles = 0
	m.crashTree(m.root, make(map[*node]struct{}), options)
	return nil
}

// chooseCut returns the sequence number below which directory changes
// survive.
func (m *Mem) chooseCut(options CrashOptions) uint64 {
	switch options.KeepUnsynced {
	case KeepNever:
		return 0 // Changes are numbered from 1.
	case KeepAlways:
		return allChanges
	}
	var sequences []uint64
	for directory := range m.changedDirectories {
		for _, change := range directory.changes {
			sequences = append(sequences, change.sequence)
		}
	}
	if len(sequences) == 0 {
		return allChanges
	}
	slices.Sort(sequences) // Map order must not reach the draw.
	sequences = slices.Compact(sequences)
	kept := options.Rand.IntN(len(sequences) + 1)
	if kept == len(sequences) {
		return allChanges
	}
	return sequences[kept]
}

// crashTree rebuilds, depth first in sorted order, the directory's current
// entries from its durable ones, recounts links, forgets handles and
// crashes the content of each file the first time it is reached.
func (m *Mem) crashTree(directory *node, visited map[*node]struct{}, options CrashOptions) {
	for _, name := range slices.Sorted(maps.Keys(directory.durableEntries)) {
		child := directory.durableEntries[name]
		if _, seen := visited[child]; seen {
			if child.directory {
				// A second parent could make a cycle; keep the first.
				delete(directory.durableEntries, name)
			} else {
				child.links++
			}
			continue
		}
		visited[child] = struct{}{}
		child.links, child.handles = 1, 0
		if child.directory {
			m.crashTree(child, visited, options)
			continue
		}
		child.data.crash(options.KeepUnsynced, options.Rand)
		m.usedBytes += child.data.size()
	}
	directory.entries = maps.Clone(directory.durableEntries)
	assert(len(directory.changes) == 0, "directory changes survived a crash")
}
