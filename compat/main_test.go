package compat

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
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

const (
	// readyPrefix is what `cairn serve` prints on stdout once it accepts
	// connections; until then clients would only see refused connections.
	readyPrefix = "cairn: broker 0 ready on "
	// startTimeout bounds a broker start, including log recovery after a
	// crash.
	startTimeout = 30 * time.Second
	// buildTimeout bounds `go build ./cmd/cairn`; a cold build compiles
	// pebble and dragonboat.
	buildTimeout = 5 * time.Minute
)

// shared is the broker every test but the crash test talks to.
var shared struct {
	bin  string // the broker binary, also used by the crash test
	proc *brokerProc
	err  error // why there is no broker; every test then fails with it
}

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	tmp, err := os.MkdirTemp("", "cairn-compat-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "compat:", err)
		return 1
	}
	defer os.RemoveAll(tmp)
	shared.bin, shared.err = brokerBinary(tmp)
	if shared.err == nil {
		var addr string
		if addr, shared.err = freeAddr(); shared.err == nil {
			shared.proc, shared.err = startBroker(shared.bin, filepath.Join(tmp, "data"), addr, filepath.Join(tmp, "broker.log"))
		}
	}
	code := m.Run()
	if p := shared.proc; p != nil {
		if !p.alive() {
			fmt.Fprintf(os.Stderr, "compat: the shared broker exited during the run: %v\n", p.exitErr)
			code = 1
		}
		p.stop()
		if code != 0 {
			fmt.Fprintf(os.Stderr, "compat: last lines of the shared broker's log:\n%s\n", tailFile(p.logPath, 60))
		}
	}
	return code
}

// brokerBinary builds cmd/cairn into dir, unless CAIRN_COMPAT_BIN names a
// binary to use instead.
func brokerBinary(dir string) (string, error) {
	if bin := os.Getenv("CAIRN_COMPAT_BIN"); bin != "" {
		if _, err := os.Stat(bin); err != nil {
			return "", fmt.Errorf("CAIRN_COMPAT_BIN: %w", err)
		}
		return bin, nil
	}
	bin := filepath.Join(dir, "cairn")
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	// `go test` puts its own GOROOT/bin first on PATH, so this is the same
	// toolchain that builds the test.
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "cairn/cmd/cairn")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build ./cmd/cairn: %v\n%s", err, out)
	}
	return bin, nil
}

// sharedAddr returns the shared broker's address, failing the test when
// there is no live broker to test.
func sharedAddr(t *testing.T) string {
	t.Helper()
	if shared.err != nil {
		t.Fatalf("no broker to test: %v", shared.err)
	}
	if !shared.proc.alive() {
		t.Fatalf("the shared broker has exited: %v", shared.proc.exitErr)
	}
	return shared.proc.addr
}

// brokerProc is one running `cairn serve` process.
type brokerProc struct {
	addr    string
	dataDir string
	logPath string
	cmd     *exec.Cmd
	done    chan struct{} // closed once the process has exited
	exitErr error         // how it exited; valid after done is closed
}

// startBroker starts a standalone `cairn serve` and waits for its ready
// line. stdout and stderr are appended to logPath, so a restarted broker
// continues the same log.
func startBroker(bin, dataDir, addr, logPath string) (*brokerProc, error) {
	return startServe(bin, []string{"--listen", addr, "--data-dir", dataDir}, readyPrefix, addr, dataDir, logPath)
}

// startServe starts `cairn serve` with args and waits for the ready line
// that begins with prefix and names addr.
func startServe(bin string, args []string, prefix, addr, dataDir, logPath string) (*brokerProc, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, append([]string{"serve"}, args...)...)
	cmd.Stderr = logFile
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		logFile.Close()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, err
	}
	p := &brokerProc{addr: addr, dataDir: dataDir, logPath: logPath, cmd: cmd, done: make(chan struct{})}
	ready := make(chan string, 1)
	// The scanner keeps draining stdout for the whole life of the process:
	// a broker blocked on a full pipe would look like a hung broker.
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(logFile, line)
			if rest, ok := strings.CutPrefix(line, prefix); ok {
				select {
				case ready <- rest:
				default:
				}
			}
		}
		p.exitErr = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	select {
	case rest := <-ready:
		// The line names the bound address; it must be the one asked for,
		// since the broker advertises it and a restart reuses it.
		if got, _, _ := strings.Cut(rest, " "); got != addr {
			p.kill()
			return nil, fmt.Errorf("broker says it is ready on %q, asked to listen on %s", got, addr)
		}
		return p, nil
	case <-p.done:
		return nil, fmt.Errorf("broker exited before it was ready: %v\n%s", p.exitErr, tailFile(logPath, 30))
	case <-time.After(startTimeout):
		p.kill()
		return nil, fmt.Errorf("broker not ready after %v\n%s", startTimeout, tailFile(logPath, 30))
	}
}

func (p *brokerProc) alive() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// kill sends SIGKILL, as a crash would, and waits for the process to go.
func (p *brokerProc) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// stop asks for a clean shutdown, and kills the broker if that takes long.
func (p *brokerProc) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.kill()
	}
}

// freeAddr returns a loopback address with a port nothing listens on now.
// The broker gets a fixed port (rather than :0) because a restarted broker
// must come back where clients and its own metadata expect it.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func tailFile(path string, lines int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	all := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

// Tools outside Go.

const (
	// debianPython is the interpreter Debian's python3-kafka and
	// python3-confluent-kafka install into; a python3 earlier on PATH (pyenv,
	// a virtualenv) would not see them.
	debianPython = "/usr/bin/python3"
	// pythonIsolated keeps PYTHONPATH, PYTHONHOME and user site-packages of
	// whoever runs the tests from swapping in other client versions.
	pythonIsolated = "-I"
	depsHint       = "`make deps` installs it"
)

func requireTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is not installed (%v); %s", name, err, depsHint)
	}
	return path
}

// requirePythonModule fails the test unless Debian's python3 can import
// module, which the apt package pkg provides.
func requirePythonModule(t *testing.T, module, pkg string) {
	t.Helper()
	if _, err := os.Stat(debianPython); err != nil {
		t.Fatalf("%s is missing (%v); %s", debianPython, err, depsHint)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, debianPython, pythonIsolated, "-c", "import "+module).CombinedOutput()
	if err != nil {
		t.Fatalf("%s cannot import %s (%v: %s); apt package %s is missing, %s", debianPython, module, err, bytes.TrimSpace(out), pkg, depsHint)
	}
}

func requireKafkajs(t *testing.T) string {
	t.Helper()
	node := requireTool(t, "node")
	if _, err := os.Stat(filepath.Join("node", "node_modules", "kafkajs", "package.json")); err != nil {
		t.Fatalf("kafkajs is not installed in compat/node (%v); %s", err, depsHint)
	}
	return node
}

// run runs a client subprocess with stdin, under a deadline so that a stuck
// client fails the test instead of hanging it, and returns its stdout.
func run(t *testing.T, timeout time.Duration, stdin []byte, env []string, name string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = bytes.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// A killed client can leave a grandchild holding the pipes open;
	// WaitDelay stops Wait from waiting on them forever.
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("timed out after %v (%v)", timeout, err)
	}
	if err != nil {
		t.Fatalf("%s %s: %v\nstderr:\n%s\nstdout:\n%s", name, strings.Join(args, " "), err, lastBytes(stderr.Bytes(), 4000), lastBytes(stdout.Bytes(), 2000))
	}
	if testing.Verbose() && stderr.Len() > 0 {
		t.Logf("%s stderr:\n%s", filepath.Base(name), lastBytes(stderr.Bytes(), 2000))
	}
	return stdout.Bytes()
}

func lastBytes(b []byte, n int) string {
	if len(b) > n {
		return "..." + string(b[len(b)-n:])
	}
	return string(b)
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

// isClosed reports whether err from a read means the peer closed or reset
// the connection (as opposed to our read deadline passing).
func isClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.ErrUnexpectedEOF)
}
