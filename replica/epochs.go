package replica

import (
	"bufio"
	"bytes"
	"fmt"
	"path"
	"strconv"
	"strings"

	"cairn/core"
	"cairn/core/mutant"
	"cairn/diskfault"
)

// The leader epoch checkpoint, in Kafka's text format: a version line, a
// count line, then "epoch startOffset" per entry.
const (
	epochCheckpointName    = "leader-epoch-checkpoint"
	epochCheckpointVersion = 0
	epochEntriesMax        = 1 << 20
)

// loadEpochs reads a partition's epoch checkpoint. A missing file is an
// empty cache; a malformed one is an error, not a guess.
func loadEpochs(fs diskfault.FS, dir string) ([]core.EpochEntry, error) {
	name := path.Join(dir, epochCheckpointName)
	if _, err := fs.Stat(name); err != nil {
		return nil, nil
	}
	f, err := fs.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	// Two agreeing reads: a bit flipped on the way from the disk must not
	// become a wrong epoch, which truncation and fetch checks would trust.
	data, err := stableRead(f, info.Size())
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", epochCheckpointName, err)
	}
	return parseEpochs(data)
}

func parseEpochs(data []byte) ([]core.EpochEntry, error) {
	scanner := bufio.NewScanner(bytes.NewReader(data))
	line := func() (string, bool) {
		if !scanner.Scan() {
			return "", false
		}
		return strings.TrimSpace(scanner.Text()), true
	}
	version, ok := line()
	if !ok || version != strconv.Itoa(epochCheckpointVersion) {
		return nil, fmt.Errorf("%s: unknown version %q", epochCheckpointName, version)
	}
	countText, ok := line()
	count, err := strconv.Atoi(countText)
	if !ok || err != nil || count < 0 || count > epochEntriesMax {
		return nil, fmt.Errorf("%s: bad entry count %q", epochCheckpointName, countText)
	}
	entries := make([]core.EpochEntry, 0, count)
	for i := 0; i < count; i++ {
		text, ok := line()
		fields := strings.Fields(text)
		if !ok || len(fields) != 2 {
			return nil, fmt.Errorf("%s: entry %d malformed", epochCheckpointName, i)
		}
		epoch, err1 := strconv.ParseInt(fields[0], 10, 32)
		offset, err2 := strconv.ParseInt(fields[1], 10, 64)
		if err1 != nil || err2 != nil || epoch < 0 || offset < 0 {
			return nil, fmt.Errorf("%s: entry %d malformed", epochCheckpointName, i)
		}
		entries = append(entries, core.EpochEntry{Epoch: int32(epoch), StartOffset: offset})
	}
	return entries, nil
}

// saveEpochs replaces a partition's epoch checkpoint atomically and durably.
func saveEpochs(fs diskfault.FS, dir string, entries []core.EpochEntry) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%d\n%d\n", epochCheckpointVersion, len(entries))
	for _, e := range entries {
		fmt.Fprintf(&b, "%d %d\n", e.Epoch, e.StartOffset)
	}
	// The epoch-checkpoint-not-fsynced mutant skips both fsyncs.
	return writeFile(fs, dir, epochCheckpointName, []byte(b.String()), !mutant.Active(mutant.EpochCheckpointNotFsynced))
}
