package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// stopGrace is how long a server has to exit after SIGTERM before it is
// killed.
const stopGrace = 10 * time.Second

// supervisor starts child processes, each in its own process group, and
// kills every one still running when told (on exit, error or signal). The
// children also get SIGKILL from the kernel if the benchmark itself dies.
type supervisor struct {
	mu      sync.Mutex
	running map[*exec.Cmd]struct{}
}

func newSupervisor() *supervisor {
	return &supervisor{running: map[*exec.Cmd]struct{}{}}
}

// command prepares a child that is killed, with its process group, when
// ctx is done.
func (s *supervisor) command(ctx context.Context, name string, arguments ...string) *exec.Cmd {
	command := exec.CommandContext(ctx, name, arguments...)
	command.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	command.Cancel = func() error { return killGroup(command) }
	command.WaitDelay = 5 * time.Second
	return command
}

// start starts command and remembers it until finished is called.
func (s *supervisor) start(command *exec.Cmd) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running == nil {
		return errors.New("shutting down")
	}
	if err := command.Start(); err != nil {
		return err
	}
	s.running[command] = struct{}{}
	return nil
}

// finished forgets a command that has been waited for.
func (s *supervisor) finished(command *exec.Cmd) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.running, command)
}

// killAll kills every running child's process group and refuses new
// starts.
func (s *supervisor) killAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for command := range s.running {
		killGroup(command)
	}
	s.running = nil
}

func killGroup(command *exec.Cmd) error {
	if command.Process == nil {
		return nil
	}
	return syscall.Kill(-command.Process.Pid, syscall.SIGKILL)
}

// run runs a command to completion and returns its stdout; on failure the
// error carries the end of its stderr.
func (s *supervisor) run(ctx context.Context, timeout time.Duration, name string, arguments ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	command := s.command(ctx, name, arguments...)
	var stdout, stderr bytes.Buffer
	command.Stdout, command.Stderr = &stdout, &stderr
	if err := s.start(command); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	err := command.Wait()
	s.finished(command)
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%v)", err, ctx.Err())
		}
		return stdout.Bytes(), fmt.Errorf("%s %s: %w\n%s", name, strings.Join(arguments, " "), err, tail(stderr.String(), 2000))
	}
	return stdout.Bytes(), nil
}

// tail returns the last limit bytes of text.
func tail(text string, limit int) string {
	text = strings.TrimSpace(text)
	if len(text) > limit {
		return "…" + text[len(text)-limit:]
	}
	return text
}

// server is a broker process that announced its address.
type server struct {
	supervisor *supervisor
	command    *exec.Cmd
	address    string
	logPath    string
	exited     chan struct{}
	exitErr    error
}

// readyMarker precedes the address in the line a broker prints once it
// accepts connections ("cairn: broker 0 ready on ADDR ..." or
// "kfake: ready on ADDR").
const readyMarker = "ready on "

// parseReadyLine returns the address of a ready line, or "".
func parseReadyLine(line string) string {
	_, after, ok := strings.Cut(line, readyMarker)
	if !ok {
		return ""
	}
	fields := strings.Fields(after)
	if len(fields) == 0 {
		return ""
	}
	if _, _, err := net.SplitHostPort(fields[0]); err != nil {
		return ""
	}
	return fields[0]
}

// startServer starts a broker, its stderr going to logPath, and waits up to
// readyTimeout for its ready line.
func (s *supervisor) startServer(ctx context.Context, logPath string, readyTimeout time.Duration, name string, arguments ...string) (*server, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	command := s.command(context.WithoutCancel(ctx), name, arguments...)
	command.Stderr = logFile
	stdout, err := command.StdoutPipe()
	if err != nil {
		logFile.Close()
		return nil, err
	}
	if err := s.start(command); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	broker := &server{supervisor: s, command: command, logPath: logPath, exited: make(chan struct{})}
	addresses := make(chan string, 1)
	go func() {
		scanner := bufio.NewScanner(stdout)
		announced := false
		for scanner.Scan() {
			if announced {
				continue
			}
			if address := parseReadyLine(scanner.Text()); address != "" {
				announced = true
				addresses <- address
			}
		}
		io.Copy(io.Discard, stdout)
		broker.exitErr = command.Wait()
		s.finished(command)
		logFile.Close()
		close(broker.exited)
	}()
	timer := time.NewTimer(readyTimeout)
	defer timer.Stop()
	select {
	case broker.address = <-addresses:
		return broker, nil
	case <-broker.exited:
		return nil, fmt.Errorf("%s exited before it was ready: %v\n%s", name, broker.exitErr, broker.logTail())
	case <-timer.C:
		broker.stop()
		return nil, fmt.Errorf("%s was not ready after %v\n%s", name, readyTimeout, broker.logTail())
	case <-ctx.Done():
		broker.stop()
		return nil, ctx.Err()
	}
}

// logTail returns the end of the server's log.
func (broker *server) logTail() string {
	text, err := os.ReadFile(broker.logPath)
	if err != nil {
		return ""
	}
	return tail(string(text), 2000)
}

// processorSeconds returns the processor time the server has used so far (user
// plus system), or a negative number if it is unknown.
func (broker *server) processorSeconds() float64 {
	text, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", broker.command.Process.Pid))
	if err != nil {
		return -1
	}
	return parseProcessStatSeconds(string(text))
}

// clockTicksPerSecond is USER_HZ, 100 on Linux for every common
// architecture.
const clockTicksPerSecond = 100

// parseProcessStatSeconds reads utime and stime (fields 14 and 15) from a
// /proc/PID/stat line; the command name in parentheses may hold spaces.
func parseProcessStatSeconds(stat string) float64 {
	end := strings.LastIndexByte(stat, ')')
	if end < 0 {
		return -1
	}
	fields := strings.Fields(stat[end+1:])
	// fields[0] is the state (field 3), so utime (14) is fields[11].
	if len(fields) < 13 {
		return -1
	}
	user, errUser := strconv.ParseInt(fields[11], 10, 64)
	system, errSystem := strconv.ParseInt(fields[12], 10, 64)
	if errUser != nil || errSystem != nil {
		return -1
	}
	return float64(user+system) / clockTicksPerSecond
}

// stop sends SIGTERM to the server's process group, and SIGKILL if it has
// not exited after stopGrace. It reports whether the exit was clean.
func (broker *server) stop() error {
	select {
	case <-broker.exited:
		return broker.exitErr
	default:
	}
	syscall.Kill(-broker.command.Process.Pid, syscall.SIGTERM)
	timer := time.NewTimer(stopGrace)
	defer timer.Stop()
	select {
	case <-broker.exited:
		return broker.exitErr
	case <-timer.C:
		killGroup(broker.command)
		<-broker.exited
		return fmt.Errorf("did not exit within %v of SIGTERM; killed", stopGrace)
	}
}

// freePort returns a port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer listener.Close()
	return listener.Addr().(*net.TCPAddr).Port, nil
}
