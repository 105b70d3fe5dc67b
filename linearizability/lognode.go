package linearizability

// logNode is the log part of a model state: an immutable log of batches,
// shared between states. Appending allocates one node and leaves every
// earlier state intact, so Porcupine keeps states for backtracking and
// caching at no copy cost. The root node, depth 0, is the empty log.
//
// A node is either one produce's batch, or filler: records of produces
// that may or may not have taken effect and that no fetch read, whose
// values therefore never matter. Adjacent filler merges into one node, so
// logs that differ only in how unread records were split among produces
// are equal.
//
// jump is a skew-binary ancestor pointer (Myers, "An applicative random-
// access stack", 1983): following jumps and parents finds the batch that
// holds any offset in O(log batches) steps.
type logNode struct {
	parent, jump *logNode
	depth        int64
	operation    int   // the produce whose batch this is; rootOperation or fillerOperation
	base, end    int64 // the node holds offsets [base, end)
	hash         uint64
}

const (
	rootOperation   = -1
	fillerOperation = -2
)

func newRootNode() *logNode {
	root := &logNode{operation: rootOperation, hash: mixHash(0)}
	root.jump = root
	return root
}

// appendBatch returns the log with the batch of operation appended.
func (node *logNode) appendBatch(operation int, length int64) *logNode {
	return node.child(operation, node.end, node.end+length, mixHash(node.hash^uint64(operation+1)))
}

// appendFiller returns the log with length unread records appended.
func (node *logNode) appendFiller(length int64) *logNode {
	const fillerTag = 0x5bd1e9955bd1e995
	if node.operation == fillerOperation {
		// Replace the filler on top by a longer one.
		parent := node.parent
		end := node.end + length
		return parent.child(fillerOperation, node.base, end, mixHash(parent.hash^fillerTag^uint64(end)))
	}
	end := node.end + length
	return node.child(fillerOperation, node.end, end, mixHash(node.hash^fillerTag^uint64(end)))
}

// child allocates the node on top of node.
func (node *logNode) child(operation int, base, end int64, hash uint64) *logNode {
	child := &logNode{parent: node, depth: node.depth + 1, operation: operation, base: base, end: end, hash: hash}
	if node.depth-node.jump.depth == node.jump.depth-node.jump.jump.depth {
		child.jump = node.jump.jump
	} else {
		child.jump = node
	}
	return child
}

// batchAt returns the node that holds offset, which must be in
// [0, node.end).
func (node *logNode) batchAt(offset int64) *logNode {
	for node.base > offset {
		if node.jump.base > offset {
			node = node.jump
		} else {
			node = node.parent
		}
	}
	return node
}

// equalLogs compares two logs. Distinct nodes hold the same log when the
// same batches were appended along different search paths, so the walk
// compares nodes until the paths meet.
func equalLogs(a, b *logNode) bool {
	if a.depth != b.depth || a.end != b.end || a.hash != b.hash {
		return false
	}
	for a != b {
		if a.operation != b.operation || a.base != b.base || a.end != b.end {
			return false
		}
		a, b = a.parent, b.parent
	}
	return true
}

// mixHash is the SplitMix64 finalizer.
func mixHash(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}
