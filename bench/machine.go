package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// machine describes the computer the benchmark ran on.
type machine struct {
	Processors     int
	ProcessorModel string
	MemoryBytes    int64
	Kernel         string
	GoVersion      string
	Filesystem     string   // df's line for the work directory
	LoadAtStart    string   // /proc/loadavg when the run began
	LoadAtEnd      string   // /proc/loadavg when the run ended
	LoadSamples    []string // /proc/loadavg at the start of each repetition
}

// describeMachine gathers what it can; a missing fact reads "unknown".
func describeMachine(ctx context.Context, workDir string) machine {
	m := machine{Processors: runtime.NumCPU(), ProcessorModel: "unknown", Kernel: "unknown", GoVersion: runtime.Version(), Filesystem: "unknown"}
	if text, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		m.ProcessorModel = cpuModel(string(text))
	}
	if text, err := os.ReadFile("/proc/meminfo"); err == nil {
		m.MemoryBytes = memoryTotalBytes(string(text))
	}
	if text, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(text))
	}
	if output, err := exec.CommandContext(ctx, "go", "version").Output(); err == nil {
		m.GoVersion = strings.TrimSpace(string(output))
	}
	if output, err := exec.CommandContext(ctx, "df", "-hP", workDir).Output(); err == nil {
		lines := strings.Split(strings.TrimSpace(string(output)), "\n")
		m.Filesystem = strings.Join(strings.Fields(lines[len(lines)-1]), " ")
	}
	m.LoadAtStart = loadAverage()
	return m
}

// loadAverage returns the first three fields of /proc/loadavg.
func loadAverage() string {
	text, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	fields := strings.Fields(string(text))
	if len(fields) < 3 {
		return "unknown"
	}
	return strings.Join(fields[:3], " ")
}

// cpuModel returns the first "model name" of /proc/cpuinfo.
func cpuModel(cpuinfo string) string {
	for line := range strings.SplitSeq(cpuinfo, "\n") {
		if name, value, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(name) == "model name" {
			return strings.TrimSpace(value)
		}
	}
	return "unknown"
}

// memoryTotalBytes returns MemTotal of /proc/meminfo, or 0.
func memoryTotalBytes(meminfo string) int64 {
	for line := range strings.SplitSeq(meminfo, "\n") {
		fields := strings.Fields(line)
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			kibibytes, err := strconv.ParseInt(fields[1], 10, 64)
			if err == nil {
				return kibibytes * 1024
			}
		}
	}
	return 0
}

// limits are the machine's own ceilings, measured in the same run as the
// brokers.
type limits struct {
	// SequentialWriteBytesPerSecond is dd's 1 MiB writes with one
	// fdatasync at the end.
	SequentialWriteBytesPerSecond float64
	// SyncWriteLatency is one 4 KiB write with O_DSYNC.
	SyncWriteLatency time.Duration
	// LoopbackBytesPerSecond is one TCP stream over 127.0.0.1.
	LoopbackBytesPerSecond float64
}

// ddSummary matches the last line dd prints, such as
// "1073741824 bytes (1.1 GB, 1.0 GiB) copied, 3.21 s, 335 MB/s".
var ddSummary = regexp.MustCompile(`(?m)^(\d+) bytes .*copied, ([0-9.eE+-]+) s`)

// parseDD returns the bytes dd copied and the seconds it took.
func parseDD(output string) (bytes int64, seconds float64, err error) {
	match := ddSummary.FindStringSubmatch(output)
	if match == nil {
		return 0, 0, fmt.Errorf("no summary line in dd's output %q", strings.TrimSpace(output))
	}
	bytes, err = strconv.ParseInt(match[1], 10, 64)
	if err != nil {
		return 0, 0, err
	}
	seconds, err = strconv.ParseFloat(match[2], 64)
	if err != nil {
		return 0, 0, err
	}
	if seconds <= 0 {
		return 0, 0, fmt.Errorf("dd took %v s", seconds)
	}
	return bytes, seconds, nil
}

// runDD runs dd with the given operands, writing to a file in dir that is
// removed afterwards, and returns bytes copied and seconds taken.
func runDD(ctx context.Context, dir string, operands ...string) (int64, float64, error) {
	file := filepath.Join(dir, "dd-probe")
	defer os.Remove(file)
	arguments := append([]string{"if=/dev/zero", "of=" + file}, operands...)
	command := exec.CommandContext(ctx, "dd", arguments...)
	command.Env = append(os.Environ(), "LC_ALL=C") // a decimal point, English words
	output, err := command.CombinedOutput()
	if err != nil {
		return 0, 0, fmt.Errorf("dd %s: %w: %s", strings.Join(arguments, " "), err, strings.TrimSpace(string(output)))
	}
	return parseDD(string(output))
}

// measureSequentialWrite is dd of 1 GiB in 1 MiB blocks with fdatasync at
// the end: the disk's durable streaming bandwidth.
func measureSequentialWrite(ctx context.Context, dir string) (float64, error) {
	bytes, seconds, err := runDD(ctx, dir, "bs=1M", "count=1024", "conv=fdatasync")
	if err != nil {
		return 0, err
	}
	return float64(bytes) / seconds, nil
}

// measureSyncWriteLatency is dd of 1000 4 KiB blocks with O_DSYNC: the
// time of one small durable write.
func measureSyncWriteLatency(ctx context.Context, dir string) (time.Duration, error) {
	const writes = 1000
	_, seconds, err := runDD(ctx, dir, "bs=4k", "count=1000", "oflag=dsync")
	if err != nil {
		return 0, err
	}
	return time.Duration(seconds / writes * float64(time.Second)), nil
}

// measureLoopback streams 1 MiB writes over one TCP connection on
// 127.0.0.1 for the given duration and returns the bytes per second read.
func measureLoopback(ctx context.Context, duration time.Duration) (float64, error) {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer listener.Close()
	type outcome struct {
		bytes   int64
		elapsed time.Duration
		err     error
	}
	received := make(chan outcome, 1)
	go func() {
		connection, err := listener.Accept()
		if err != nil {
			received <- outcome{err: err}
			return
		}
		defer connection.Close()
		buffer := make([]byte, 1<<20)
		start := time.Now()
		var total int64
		for {
			n, err := connection.Read(buffer)
			total += int64(n)
			if errors.Is(err, io.EOF) {
				received <- outcome{bytes: total, elapsed: time.Since(start)}
				return
			}
			if err != nil {
				received <- outcome{err: err}
				return
			}
		}
	}()
	var dialer net.Dialer
	connection, err := dialer.DialContext(ctx, "tcp", listener.Addr().String())
	if err != nil {
		return 0, err
	}
	chunk := make([]byte, 1<<20)
	deadline := time.Now().Add(duration)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if _, err := connection.Write(chunk); err != nil {
			connection.Close()
			return 0, err
		}
	}
	connection.Close()
	result := <-received
	if result.err != nil {
		return 0, result.err
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	return float64(result.bytes) / result.elapsed.Seconds(), nil
}

// peakLoad returns the largest 1-minute load average seen in the run, or 0.
func (m machine) peakLoad() float64 {
	peak := 0.0
	for _, sample := range append([]string{m.LoadAtStart, m.LoadAtEnd}, m.LoadSamples...) {
		fields := strings.Fields(sample)
		if len(fields) == 0 {
			continue
		}
		if value, err := strconv.ParseFloat(fields[0], 64); err == nil {
			peak = max(peak, value)
		}
	}
	return peak
}
