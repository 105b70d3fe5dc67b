package main

import (
	"bytes"
	"flag"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// parseForTest parses args with the serve settings, the environment env and
// (when yamlText is not empty) a config file holding yamlText.
func parseForTest(t *testing.T, args []string, env map[string]string, yamlText string) (*flag.FlagSet, settingSources, error) {
	t.Helper()
	if yamlText != "" {
		path := filepath.Join(t.TempDir(), "cairn.yaml")
		if err := os.WriteFile(path, []byte(yamlText), 0o644); err != nil {
			t.Fatal(err)
		}
		args = append([]string{"--config", path}, args...)
	}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	byName := defineSettings(fs, serveSettings())
	sources, err := parseSettings(fs, byName, args, func(name string) (string, bool) {
		value, ok := env[name]
		return value, ok
	})
	return fs, sources, err
}

func value(fs *flag.FlagSet, name string) any { return fs.Lookup(name).Value.(flag.Getter).Get() }

func TestSettingsPrecedence(t *testing.T) {
	yamlText := "node_id: 3\ndata_dir: /from/file\ncluster_id: file-cluster\nbroker_session_timeout: 20s\nauto_create_topics: false\n"
	env := map[string]string{"CAIRN_NODE_ID": "2", "CAIRN_DATA_DIR": "/from/env", "CAIRN_CHAOS_DURATION": "1m"}
	fs, sources, err := parseForTest(t, []string{"--node-id", "1"}, env, yamlText)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name   string
		want   any
		source string
	}{
		{"node-id", int64(1), "--node-id"},               // flag over environment and file
		{"data-dir", "/from/env", "CAIRN_DATA_DIR"},      // environment over file
		{"cluster-id", "file-cluster", ""},               // file over default
		{"broker-session-timeout", 20 * time.Second, ""}, // durations parse from the file
		{"auto-create-topics", false, ""},                // and booleans
		{"listen", "127.0.0.1:9092", ""},                 // default
		{"metrics-addr", metricsAddressAuto, ""},         // default
	}
	for _, c := range checks {
		if got := value(fs, c.name); got != c.want {
			t.Errorf("%s = %v, want %v", c.name, got, c.want)
		}
		if c.source != "" && sources[c.name] != c.source {
			t.Errorf("%s came from %q, want %q", c.name, sources[c.name], c.source)
		}
	}
	if sources.given("listen") {
		t.Error("listen counted as given, though only its default applies")
	}
	if !sources.given("cluster-id") || !strings.HasSuffix(sources["cluster-id"], "cairn.yaml") {
		t.Errorf("cluster-id's source %q, want the file", sources["cluster-id"])
	}
}

func TestSettingsRefused(t *testing.T) {
	refused := []struct {
		what     string
		args     []string
		env      map[string]string
		yamlText string
		says     []string
	}{
		{"unknown key", nil, nil, "node_id: 1\nlisten_address: x\n", []string{"cairn.yaml:2", `unknown setting "listen_address"`, "data_dir"}},
		{"flag spelling in the file", nil, nil, "data-dir: x\n", []string{`unknown setting "data-dir" (did you mean data_dir?)`}},
		{"typo", nil, nil, "durabilty: x\n", []string{"did you mean durability?"}},
		{"longer name", nil, nil, "listen_address: x\n", []string{"did you mean listen?"}},
		{"nothing near", nil, nil, "colour: blue\n", []string{`unknown setting "colour"; the settings are`}},
		{"bad integer in the file", nil, nil, "node_id: one\n", []string{"node_id", `"one"`, "want an integer"}},
		{"bad duration in the file", nil, nil, "broker_session_timeout: 9\n", []string{"broker_session_timeout", "duration"}},
		{"list value", nil, nil, "peers:\n  - 0=a:1\n", []string{"peers", "want a single string, found a list"}},
		{"not a mapping", nil, nil, "- a\n- b\n", []string{"want a mapping"}},
		{"not YAML", nil, nil, "node_id: [\n", []string{"not YAML"}},
		{"duplicate key", nil, nil, "node_id: 1\nnode_id: 2\n", []string{"node_id"}},
		{"bad environment value", nil, map[string]string{"CAIRN_NODE_ID": "two"}, "", []string{"CAIRN_NODE_ID", `"two"`, "integer"}},
		{"bad boolean in the environment", nil, map[string]string{"CAIRN_AUTO_CREATE_TOPICS": "maybe"}, "", []string{"CAIRN_AUTO_CREATE_TOPICS", "want true or false"}},
		{"missing file", []string{"--config", "/nonexistent/cairn.yaml"}, nil, "", []string{"--config", "no such file"}},
		{"argument", []string{"extra"}, nil, "", []string{`unexpected argument "extra"`}},
	}
	for _, r := range refused {
		_, _, err := parseForTest(t, r.args, r.env, r.yamlText)
		if err == nil {
			t.Errorf("%s: accepted", r.what)
			continue
		}
		for _, want := range r.says {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: error %q does not say %q", r.what, err, want)
			}
		}
	}
}

// TestServeRefusesBadConfigurationAtStart: runServe stops before opening
// anything when a value is bad, naming the value.
func TestServeRefusesBadConfigurationAtStart(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		args []string
		says string
	}{
		{[]string{"--durability", "sometimes"}, "--durability"},
		{[]string{"--log-format", "xml"}, "--log-format"},
		{[]string{"--metrics-addr", "9644"}, "--metrics-addr"},
		{[]string{"--broker-session-timeout", "1s"}, "at least 2s"},
		{[]string{"--group-consumer-assignor", "roundrobin"}, "--group-consumer-assignor"},
		{[]string{"--group-consumer-heartbeat-interval", "10ms"}, "--group-consumer-heartbeat-interval"},
		{[]string{"--group-consumer-session-timeout", "2s"}, "--group-consumer-session-timeout"},
	} {
		err := runServe(append([]string{"--data-dir", filepath.Join(dir, "data"), "--listen", "127.0.0.1:0"}, c.args...))
		if err == nil || !strings.Contains(err.Error(), c.says) {
			t.Errorf("serve %v: error %v, want one saying %q", c.args, err, c.says)
		}
	}
	// A bad value names the setting as it was given.
	t.Setenv("CAIRN_DURABILITY", "sometimes")
	if err := runServe([]string{"--data-dir", filepath.Join(dir, "data")}); err == nil || !strings.HasPrefix(err.Error(), `CAIRN_DURABILITY "sometimes"`) {
		t.Errorf("CAIRN_DURABILITY=sometimes: error %v, want one naming the variable", err)
	}
	os.Unsetenv("CAIRN_DURABILITY")
	file := filepath.Join(dir, "cairn.yaml")
	if err := os.WriteFile(file, []byte("default_partitions: 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := runServe([]string{"--data-dir", filepath.Join(dir, "data"), "--config", file}); err == nil || !strings.Contains(err.Error(), "cairn.yaml: default_partitions 0") {
		t.Errorf("default_partitions: 0 in a file: error %v, want one naming the file and key", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "data")); err == nil {
		t.Error("a refused configuration still created the data directory")
	}
}

func TestMetricsAddress(t *testing.T) {
	for _, c := range []struct {
		setting, listen string
		node            int32
		want            string
	}{
		{"auto", "127.0.0.1:9092", 0, "127.0.0.1:9644"},
		{"auto", "127.0.0.1:9093", 1, "127.0.0.1:9645"},
		{"auto", "10.0.0.2:9092", 2, "10.0.0.2:9646"},
		{"", "127.0.0.1:9092", 0, ""},
		{"0.0.0.0:9100", "127.0.0.1:9092", 0, "0.0.0.0:9100"},
	} {
		got, err := metricsAddress(c.setting, c.listen, c.node)
		if err != nil || got != c.want {
			t.Errorf("metricsAddress(%q, %q, %d) = %q, %v; want %q", c.setting, c.listen, c.node, got, err, c.want)
		}
	}
}

// TestConfigDocumented keeps docs/CONFIG.md's table equal to the settings
// table. After changing a setting, regenerate it with
//
//	go test ./cmd/cairn -run TestConfigDocumented -args -update-config-doc
func TestConfigDocumented(t *testing.T) {
	path := filepath.Join("..", "..", "docs", "CONFIG.md")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const begin, end = "<!-- settings table: begin -->\n", "<!-- settings table: end -->"
	text := string(data)
	i, j := strings.Index(text, begin), strings.Index(text, end)
	if i < 0 || j < i {
		t.Fatalf("%s: no %q ... %q markers", path, begin, end)
	}
	want := configTable(serveSettings())
	got := text[i+len(begin) : j]
	if got == want {
		return
	}
	if *updateConfigDoc {
		if err := os.WriteFile(path, []byte(text[:i+len(begin)]+want+text[j:]), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("%s's settings table differs from serveSettings(); run go test ./cmd/cairn -run TestConfigDocumented -args -update-config-doc\nwant:\n%s", path, want)
}

var updateConfigDoc = flag.Bool("update-config-doc", false, "rewrite docs/CONFIG.md's settings table")

// TestStartMetrics serves /metrics for a real broker, and checks what
// happens when the address is taken: a derived (auto) address is given up
// with a warning, an explicit one stops the broker.
func TestStartMetrics(t *testing.T) {
	brokers := startCairn(t)
	server := startedServers[brokers]
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))

	httpServer, err := startMetrics(server, "127.0.0.1:0", true, brokers, 0, logger)
	if err != nil {
		t.Fatal(err)
	}
	defer httpServer.Close()
	cli{t, brokers}.ok("", "topic", "create", "metered", "-p", "2")
	url := regexp.MustCompile(`url=(\S+)`).FindStringSubmatch(logs.String())
	if url == nil {
		t.Fatalf("no metrics url logged: %s", logs.String())
	}
	response, err := http.Get(url[1])
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(response.Body)
	response.Body.Close()
	mustContain(t, "/metrics", string(body), "cairn_controller_active 1", `cairn_requests_total{api="CreateTopics"} 1`,
		`cairn_partition_high_watermark{partition="1",topic="metered"} 0`, "cairn_offline_partitions 0")

	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	if _, err := startMetrics(server, taken.Addr().String(), true, brokers, 0, logger); err == nil || !strings.Contains(err.Error(), "--metrics-addr") {
		t.Errorf("an explicit address in use: error %v, want one naming --metrics-addr", err)
	}
	// auto derives 127.0.0.1:9644+node: a node id that lands on the taken
	// port stands in for a second broker on the same machine.
	takenPort := taken.Addr().(*net.TCPAddr).Port
	if takenPort >= metricsPortBase {
		logs.Reset()
		s, err := startMetrics(server, metricsAddressAuto, false, brokers, int32(takenPort-metricsPortBase), logger)
		if err != nil || s != nil {
			t.Errorf("auto address in use: %v, %v; want no endpoint and no error", s, err)
		}
		mustContain(t, "the warning", logs.String(), "no /metrics endpoint")
	}
}
