package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"cairn/core"
	"cairn/replica"
)

// A setting is one line of the broker's configuration table. The flag, the
// environment variable and the YAML key are all derived from its name, and
// its default is the only one: the flag's default, the value used when
// neither the environment nor a file sets it, and what docs/CONFIG.md shows.
type setting struct {
	// name is the flag's name (--name); the variable is CAIRN_ and the name
	// in capitals with - as _, the YAML key the name with - as _.
	name string
	kind settingKind
	// value is the default, in the form the flag parses.
	value string
	usage string
}

type settingKind int

const (
	kindString settingKind = iota
	kindInt
	kindBool
	kindDuration
)

func (k settingKind) String() string {
	return [...]string{"string", "integer", "true/false", "duration"}[k]
}

// phrase is the kind with its article, for "want ...".
func (k settingKind) phrase() string {
	return [...]string{"a string", "an integer", "true or false", "a duration such as 30s"}[k]
}

func (s setting) environmentVariable() string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(s.name, "-", "_"))
}

func (s setting) yamlKey() string { return strings.ReplaceAll(s.name, "-", "_") }

// configSetting is --config, which names the YAML file; it is not itself a
// key of that file.
const configSetting = "config"

// metricsAddressAuto is --metrics-addr's default: derived from --listen and
// --node-id (see metricsAddress).
const metricsAddressAuto = "auto"

// metricsPortBase is node 0's metrics port; node N's is this + N.
const metricsPortBase = 9644

// serveSettings is the broker's configuration table.
func serveSettings() []setting {
	d := replica.DefaultConfig()
	return []setting{
		{configSetting, kindString, "", "YAML file of settings, keyed by the names in docs/CONFIG.md (data_dir: /var/lib/cairn); flags and CAIRN_* variables override it"},
		{"listen", kindString, "127.0.0.1:9092", "address to listen on for Kafka clients (clustered: default this broker's --peers address)"},
		{"advertise", kindString, "", "host:port clients should connect to (default: the listen address; clustered: this broker's --peers address)"},
		{"data-dir", kindString, d.DataDir, "directory for the broker's logs and metadata (clustered: Raft state under <data-dir>/raft)"},
		{"node-id", kindInt, strconv.Itoa(int(d.NodeID)), "this broker's id"},
		{"peers", kindString, "", "every broker of the cluster, this one included, as id=host:port of its Kafka listener, comma-separated (for example 0=127.0.0.1:9092,1=127.0.0.1:9093,2=127.0.0.1:9094); 1 or 3 brokers; empty: standalone"},
		{"raft-port-offset", kindInt, "100", "clustered: each broker's Raft transport listens on its Kafka port plus this"},
		{"cluster-id", kindString, d.ClusterID, "the cluster's name, the same on every broker"},
		{"broker-session-timeout", kindDuration, d.SessionTimeout.String(), "clustered: how long a broker may miss heartbeats before the controller fences it and moves its leaderships"},
		{"replication-factor-default", kindInt, "0", "replication factor of an auto-created topic or of CreateTopics asking for -1; 0: 1 standalone, min(3, brokers) clustered"},
		{"durability", kindString, d.Durability.String(), "when a record counts toward an ack: durable (fsynced) or replication (Kafka's page-cache mode)"},
		{"auto-create-topics", kindBool, strconv.FormatBool(d.AutoCreateTopics), "create unknown topics when a client asks for their metadata"},
		{"default-partitions", kindInt, strconv.Itoa(int(d.DefaultPartitions)), "partitions of an auto-created topic"},
		{"offsets-topic-partitions", kindInt, "50", "partitions of __consumer_offsets when it is created (Kafka's offsets.topic.num.partitions); a group's coordinator is the leader of one of them"},
		{"group-initial-rebalance-delay", kindDuration, d.GroupInitialRebalanceDelay.String(), "how long the first rebalance of an empty consumer group waits for more members (Kafka's group.initial.rebalance.delay.ms)"},
		{"group-consumer-heartbeat-interval", kindDuration, d.GroupConsumerHeartbeatInterval.String(), "how often members of consumer-protocol groups (KIP-848) are told to heartbeat (Kafka's group.consumer.heartbeat.interval.ms)"},
		{"group-consumer-session-timeout", kindDuration, d.GroupConsumerSessionTimeout.String(), "a member of a consumer-protocol group that has not heartbeated for this long is removed and its partitions reassigned (Kafka's group.consumer.session.timeout.ms)"},
		{"group-consumer-assignor", kindString, d.GroupConsumerAssignor, "server-side assignor of a consumer-protocol group whose members name none: uniform (sticky, even) or range (Kafka's group.consumer.assignors, first entry)"},
		{"producer-id-expiration", kindDuration, core.DefaultProducerIdleMax.String(), "a partition forgets an idempotent producer that has not written for this long (Kafka's producer.id.expiration.ms)"},
		{"auto-leader-rebalance-enable", kindBool, strconv.FormatBool(d.AutoLeaderRebalance), "clustered: the controller moves leaders back to their preferred replica (the first of each assignment) once it can lead again (Kafka's auto.leader.rebalance.enable)"},
		{"leader-imbalance-check-interval", kindDuration, d.LeaderImbalanceCheckInterval.String(), "how often the controller checks for leaders off their preferred replica (Kafka's leader.imbalance.check.interval.seconds)"},
		{"leader-imbalance-per-broker-percentage", kindInt, strconv.Itoa(int(d.LeaderImbalancePerBrokerPercentage)), "the check moves a broker's leaders back only when more than this per cent of the partitions it is preferred for are led elsewhere (Kafka's leader.imbalance.per.broker.percentage)"},
		{"segment-bytes", kindInt, strconv.FormatInt(d.Log.SegmentBytesMax, 10), "roll a segment file at this size"},
		{"metrics-addr", kindString, metricsAddressAuto, "address of the Prometheus /metrics endpoint; auto: the --listen host on port 9644 + --node-id; empty: no endpoint"},
		{"log-format", kindString, "text", "format of the logs on stderr and of the ready line on stdout: text or json"},
		{"log-level", kindString, "info", "log level: debug, info, warn or error"},
	}
}

// defineSettings adds a flag per setting to fs and returns the settings by
// name.
func defineSettings(fs *flag.FlagSet, settings []setting) map[string]setting {
	byName := map[string]setting{}
	for _, s := range settings {
		byName[s.name] = s
		switch s.kind {
		case kindString:
			fs.String(s.name, s.value, s.usage)
		case kindInt:
			value, err := strconv.ParseInt(s.value, 10, 64)
			if err != nil {
				panic(fmt.Sprintf("setting %s: default %q is not an integer", s.name, s.value))
			}
			fs.Int64(s.name, value, s.usage)
		case kindBool:
			value, err := strconv.ParseBool(s.value)
			if err != nil {
				panic(fmt.Sprintf("setting %s: default %q is not a bool", s.name, s.value))
			}
			fs.Bool(s.name, value, s.usage)
		case kindDuration:
			value, err := time.ParseDuration(s.value)
			if err != nil {
				panic(fmt.Sprintf("setting %s: default %q is not a duration", s.name, s.value))
			}
			fs.Duration(s.name, value, s.usage)
		}
	}
	return byName
}

// settingSources records where each setting's value came from.
type settingSources map[string]string

// label names a setting as its value was given, for errors: --name (a flag,
// or the default), CAIRN_NAME, or file: key.
func (s settingSources) label(name string, setting setting) string {
	source := s[name]
	switch {
	case source == "" || strings.HasPrefix(source, "--"):
		return "--" + name
	case source == setting.environmentVariable():
		return source
	}
	return source + ": " + setting.yamlKey()
}

// given reports whether the setting was set by any source, not defaulted.
func (s settingSources) given(name string) bool { return s[name] != "" }

// parseSettings parses the command line into fs, then fills every setting
// the command line did not set from its CAIRN_* variable, and every one
// still unset from the YAML file named by --config (or CAIRN_CONFIG): flag
// over environment over file over default. Every value, whatever its
// source, goes through the flag's own parser, so a bad one is refused the
// same way and named with its source. Unknown YAML keys are refused.
// lookupEnv is os.LookupEnv outside tests.
func parseSettings(fs *flag.FlagSet, byName map[string]setting, args []string, lookupEnv func(string) (string, bool)) (settingSources, error) {
	if err := parseFlags(fs, args, os.Stdout); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q (flags start with --)", fs.Arg(0))
	}
	sources := settingSources{}
	fs.Visit(func(f *flag.Flag) { sources[f.Name] = "--" + f.Name })
	names := make([]string, 0, len(byName))
	for name := range byName {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if sources.given(name) {
			continue
		}
		variable := byName[name].environmentVariable()
		if value, ok := lookupEnv(variable); ok {
			if err := fs.Set(name, value); err != nil {
				return nil, fmt.Errorf("%s=%q: %v (want %s)", variable, value, unwrapFlagError(err), byName[name].kind.phrase())
			}
			sources[name] = variable
		}
	}
	path := fs.Lookup(configSetting).Value.String()
	if path == "" {
		return sources, nil
	}
	file, err := readSettingsFile(path, byName)
	if err != nil {
		return nil, err
	}
	for _, name := range names {
		value, ok := file[name]
		if !ok || sources.given(name) {
			continue
		}
		if err := fs.Set(name, value); err != nil {
			return nil, fmt.Errorf("%s: %s: %q: %v (want %s)", path, byName[name].yamlKey(), value, unwrapFlagError(err), byName[name].kind.phrase())
		}
		sources[name] = path
	}
	return sources, nil
}

// unwrapFlagError drops the flag package's "parse error" wrapping, whose
// wording is about the Go call rather than the value.
func unwrapFlagError(err error) error {
	if inner := errors.Unwrap(err); inner != nil {
		return inner
	}
	return err
}

// readSettingsFile reads a YAML mapping of setting keys to scalars and
// returns the values by setting name.
func readSettingsFile(path string, byName map[string]setting) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--config: %w", err)
	}
	byKey := map[string]setting{}
	for _, s := range byName {
		if s.name != configSetting {
			byKey[s.yamlKey()] = s
		}
	}
	var document yaml.Node
	decoder := yaml.NewDecoder(bytes.NewReader(data))
	if err := decoder.Decode(&document); err != nil {
		if errors.Is(err, io.EOF) {
			return map[string]string{}, nil // an empty file sets nothing
		}
		return nil, fmt.Errorf("%s: not YAML: %v", path, err)
	}
	if len(document.Content) == 0 {
		return map[string]string{}, nil
	}
	root := document.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s: want a mapping of settings (key: value), found a %s", path, kindName(root.Kind))
	}
	values := map[string]string{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		key, value := root.Content[i], root.Content[i+1]
		s, ok := byKey[key.Value]
		if !ok {
			hint := ""
			if near := nearestKey(key.Value, byKey); near != "" {
				hint = fmt.Sprintf(" (did you mean %s?)", near)
			}
			return nil, fmt.Errorf("%s:%d: unknown setting %q%s; the settings are %s (docs/CONFIG.md)", path, key.Line, key.Value, hint, strings.Join(sortedKeys(byKey), ", "))
		}
		if value.Kind != yaml.ScalarNode {
			return nil, fmt.Errorf("%s:%d: %s: want a single %s, found a %s", path, value.Line, key.Value, s.kind, kindName(value.Kind))
		}
		if _, dup := values[s.name]; dup {
			return nil, fmt.Errorf("%s:%d: %s is set twice", path, key.Line, key.Value)
		}
		values[s.name] = value.Value
	}
	return values, nil
}

func kindName(kind yaml.Kind) string {
	switch kind {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	case yaml.ScalarNode:
		return "single value"
	case yaml.AliasNode:
		return "alias"
	}
	return "document"
}

func sortedKeys(m map[string]setting) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// configTable renders the settings as the Markdown table in docs/CONFIG.md.
func configTable(settings []setting) string {
	var b strings.Builder
	b.WriteString("| flag | environment | YAML key | type | default | meaning |\n")
	b.WriteString("|---|---|---|---|---|---|\n")
	for _, s := range settings {
		key := "`" + s.yamlKey() + "`"
		if s.name == configSetting {
			key = "—"
		}
		def := "`" + s.value + "`"
		if s.value == "" {
			def = "(empty)"
		}
		fmt.Fprintf(&b, "| `--%s` | `%s` | %s | %s | %s | %s |\n", s.name, s.environmentVariable(), key, s.kind, def, strings.ReplaceAll(s.usage, "|", "\\|"))
	}
	return b.String()
}

// nearestKey returns the known key closest to an unknown one (a typo, or a
// flag's spelling with - for _), or "" if none is close.
func nearestKey(unknown string, known map[string]setting) string {
	normalized := strings.ReplaceAll(unknown, "-", "_")
	best, bestDistance := "", 3 // at most two edits away
	for _, key := range sortedKeys(known) {
		d := editDistance(normalized, key)
		if strings.HasPrefix(normalized, key+"_") {
			d = min(d, 2) // listen_address for listen
		}
		if d < bestDistance {
			best, bestDistance = key, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	previous := make([]int, len(b)+1)
	current := make([]int, len(b)+1)
	for j := range previous {
		previous[j] = j
	}
	for i := 1; i <= len(a); i++ {
		current[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			current[j] = min(previous[j]+1, current[j-1]+1, previous[j-1]+cost)
		}
		previous, current = current, previous
	}
	return previous[len(b)]
}
