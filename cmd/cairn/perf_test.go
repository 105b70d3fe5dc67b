package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"cairn/perf"
)

// TestPerfAgainstCairnAndKfake runs perf produce then perf consume against
// a real Cairn broker and kfake, on a topic neither has yet and without
// --partitions (the broker auto-creates it), and checks the report.
func TestPerfAgainstCairnAndKfake(t *testing.T) {
	for name, start := range map[string]func(*testing.T) string{"cairn": startCairn, "kfake": startKfake} {
		t.Run(name, func(t *testing.T) {
			brokers := start(t)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			var stdout, stderr bytes.Buffer
			err := runPerfProduce(ctx, []string{"--brokers", brokers, "--topic", "load", "--records", "3000", "--record-size", "200",
				"--acks", "1", "--compression", "lz4", "--rate", "2000"}, &stdout, &stderr)
			if err != nil {
				t.Fatalf("perf produce: %v\n%s", err, stderr.String())
			}
			mustContain(t, "perf produce's result", stdout.String(), "3000 records sent", "records/s", "MB/s", "p50", "p95", "p99 ", "p99.9", "max")
			// 3000 records at 2000/s take 1.5 s: at least one progress line.
			mustContain(t, "perf produce's progress", stderr.String(), "records acknowledged", "of 3000 in total")

			stdout.Reset()
			err = runPerfConsume(ctx, []string{"--brokers", brokers, "--topic", "load", "--json", "--quiet"}, &stdout, &stderr)
			if err != nil {
				t.Fatalf("perf consume: %v\n%s", err, stderr.String())
			}
			var result perf.Result
			if err := json.Unmarshal(stdout.Bytes(), &result); err != nil {
				t.Fatalf("perf consume --json printed %q: %v", stdout.String(), err)
			}
			if result.Records != 3000 || result.Bytes != 3000*200 || result.RecordsPerSecond <= 0 {
				t.Errorf("perf consume read %d records, %d bytes at %.0f/s; want 3000 records of 200 bytes", result.Records, result.Bytes, result.RecordsPerSecond)
			}
		})
	}
}

func TestPerfNamesAnUnreachableBroker(t *testing.T) {
	var stdout, stderr bytes.Buffer
	err := runPerfProduce(context.Background(), []string{"--brokers", "127.0.0.1:1", "--records", "10"}, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "cannot reach 127.0.0.1:1") {
		t.Errorf("perf produce against a closed port: %v", err)
	}
}

func TestProgressWriterKeepsLinesOffATerminal(t *testing.T) {
	var out bytes.Buffer
	p := newProgressWriter(&out)
	p.Write([]byte("one\n"))
	p.Write([]byte("two\n"))
	p.finish()
	if out.String() != "one\ntwo\n" {
		t.Errorf("progress to a buffer: %q, want every line as written", out.String())
	}
	live := &progressWriter{out: &out, terminal: true}
	out.Reset()
	live.Write([]byte("one\n"))
	live.Write([]byte("two\n"))
	live.finish()
	if want := "\r\033[Kone\r\033[Ktwo\n"; out.String() != want {
		t.Errorf("progress to a terminal: %q, want %q", out.String(), want)
	}
}
