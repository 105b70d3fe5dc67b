package replica

import (
	"fmt"
	"path"
	"strconv"
	"strings"

	"cairn/diskfault"
)

// metaPropertiesName records whose data a directory holds, in the format of
// Kafka's meta.properties (version, cluster.id, node.id). A broker started
// on a directory of another cluster, or under another node id, would serve
// another broker's partitions as its own and report them to a controller
// that never assigned them: it refuses to start instead.
const metaPropertiesName = "meta.properties"

// metaPropertiesBytesMax bounds what is read of the file; it is a few lines.
const metaPropertiesBytesMax = 4096

// checkMetaProperties writes dir's meta.properties on first use (and on a
// directory written before the file existed), and otherwise refuses a
// cluster id or node id other than the ones recorded.
func checkMetaProperties(fs diskfault.FS, dir, clusterID string, nodeID int32) error {
	name := path.Join(dir, metaPropertiesName)
	if _, err := fs.Stat(name); err != nil {
		body := fmt.Sprintf("version=1\ncluster.id=%s\nnode.id=%d\n", clusterID, nodeID)
		if err := writeFileAtomic(fs, dir, metaPropertiesName, []byte(body)); err != nil {
			return fmt.Errorf("write %s: %w", metaPropertiesName, err)
		}
		return nil
	}
	props, err := readMetaProperties(fs, name)
	if err != nil {
		return err
	}
	if got := props["cluster.id"]; got != clusterID {
		return fmt.Errorf("data directory %s belongs to cluster %q (its %s), not %q: start with --cluster-id %s, or use another --data-dir", dir, got, metaPropertiesName, clusterID, got)
	}
	if got := props["node.id"]; got != strconv.Itoa(int(nodeID)) {
		return fmt.Errorf("data directory %s belongs to node %s (its %s), not node %d: start with --node-id %s, or use another --data-dir", dir, got, metaPropertiesName, nodeID, got)
	}
	return nil
}

// readMetaProperties parses key=value lines (# comments allowed), read twice
// to agree as the other identity files are.
func readMetaProperties(fs diskfault.FS, name string) (map[string]string, error) {
	f, err := fs.Open(name)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", metaPropertiesName, err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("stat %s: %w", metaPropertiesName, err)
	}
	if info.Size() > metaPropertiesBytesMax {
		return nil, fmt.Errorf("%s: %d bytes, too long for %s", name, info.Size(), metaPropertiesName)
	}
	data, err := stableRead(f, info.Size())
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", metaPropertiesName, err)
	}
	props := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("%s: line %q is not key=value", name, line)
		}
		props[strings.TrimSpace(key)] = strings.TrimSpace(value)
	}
	if props["version"] != "1" {
		return nil, fmt.Errorf("%s: version %q, want 1", name, props["version"])
	}
	return props, nil
}
