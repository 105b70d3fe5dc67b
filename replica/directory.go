package replica

import (
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"path"
	"strings"

	"cairn/core/controller"
	"cairn/diskfault"
)

// directoryIDName holds the data directory's identity, drawn when the
// directory is first used. The node names it when it registers; a broker
// that comes back with another one has lost its disk, and the controller
// takes it out of every ISR and ELR until it has copied the data again.
const directoryIDName = "directory-id"

// loadDirectoryID returns the data directory's identity, drawing and
// durably writing a new one if the directory has none. A file that cannot
// be read, or does not hold an identity, is an error: the node does not
// start, rather than guess whether its disk is the one it had.
func loadDirectoryID(fs diskfault.FS, dir string, rng *rand.Rand) (controller.DirectoryID, error) {
	name := path.Join(dir, directoryIDName)
	if _, err := fs.Stat(name); err == nil {
		return readDirectoryID(fs, name)
	}
	var id controller.DirectoryID
	for id.IsZero() {
		for i := range id {
			id[i] = byte(rng.Uint32())
		}
	}
	if err := writeFileAtomic(fs, dir, directoryIDName, []byte(id.String()+"\n")); err != nil {
		return id, fmt.Errorf("write %s: %w", directoryIDName, err)
	}
	return id, nil
}

func readDirectoryID(fs diskfault.FS, name string) (controller.DirectoryID, error) {
	var id controller.DirectoryID
	f, err := fs.Open(name)
	if err != nil {
		return id, fmt.Errorf("open %s: %w", directoryIDName, err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return id, fmt.Errorf("stat %s: %w", directoryIDName, err)
	}
	if info.Size() > int64(2*len(id)+1) {
		return id, fmt.Errorf("%s: %d bytes, too long for a directory id", name, info.Size())
	}
	// Two agreeing reads: a bit flipped on the way from the disk must not
	// look like another disk.
	data, err := stableRead(f, info.Size())
	if err != nil {
		return id, fmt.Errorf("read %s: %w", directoryIDName, err)
	}
	decoded, err := hex.DecodeString(strings.TrimSuffix(string(data), "\n"))
	if err != nil || len(decoded) != len(id) {
		return id, fmt.Errorf("%s: %q is not a directory id", name, data)
	}
	copy(id[:], decoded)
	if id.IsZero() {
		return id, fmt.Errorf("%s: the zero directory id", name)
	}
	return id, nil
}
