package metalog

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestRoutineDragonboatWarningsAreQuiet: the warnings dragonboat prints on
// every healthy start and election (plain-TCP transport, vote steps) are
// demoted to DEBUG, while a warning that needs an operator still shows.
func TestRoutineDragonboatWarningsAreQuiet(t *testing.T) {
	var out bytes.Buffer
	adapter := &slogAdapter{logger: slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	adapter.minimum.Set(slog.LevelWarn)
	adapter.Warningf("mutual TLS disabled, communication is insecure")
	adapter.Warningf("%s became PreVote candidate", "[00001:00001] t1")
	adapter.Warningf("%s received %d votes and %d rejections, quorum is %d", "[00001:00001] t2", 1, 0, 1)
	if out.Len() != 0 {
		t.Errorf("routine warnings printed at the WARN threshold:\n%s", out.String())
	}
	adapter.Warningf("%s has lost quorum", "[00001:00001] t2")
	adapter.Errorf("%s failed", "logdb")
	if got := out.String(); !strings.Contains(got, "level=WARN") || !strings.Contains(got, "has lost quorum") || !strings.Contains(got, "logdb failed") {
		t.Errorf("a lost quorum and an error were not both printed:\n%s", got)
	}

	// At DEBUG the demoted messages are there, as DEBUG.
	out.Reset()
	adapter.minimum.Set(slog.LevelDebug)
	adapter.Warningf("mutual TLS disabled, communication is insecure")
	if got := out.String(); !strings.Contains(got, "level=DEBUG") || !strings.Contains(got, "mutual TLS disabled") {
		t.Errorf("at DEBUG the TLS notice is %q, want it at DEBUG", got)
	}
}

// TestUnreachablePeerSaidOncePerWindow: a peer that stays down is reported
// unreachable once per window, not on every retry; another peer, or the
// same one after the window, is reported again.
func TestUnreachablePeerSaidOncePerWindow(t *testing.T) {
	var out bytes.Buffer
	now := time.Unix(1000, 0)
	repeats := &repeatFilter{window: 30 * time.Second, now: func() time.Time { return now }, last: map[string]time.Time{}}
	adapter := &slogAdapter{logger: slog.New(slog.NewTextHandler(&out, nil)), repeats: repeats}
	adapter.minimum.Set(slog.LevelWarn)
	for range 5 {
		adapter.Errorf("Nodehost %s failed to get a connection to %s, %v", "a:1", "b:2", "refused")
		adapter.Warningf("breaker %s to %s failed, connect and process failed: %s", "a:1", "b:2", "refused")
		adapter.Warningf(unreachableFormat, "b:2", 0)
		now = now.Add(time.Second)
	}
	adapter.Warningf(unreachableFormat, "c:3", 0)
	now = now.Add(30 * time.Second)
	adapter.Warningf(unreachableFormat, "b:2", 0)
	if got := strings.Count(out.String(), "b:2 became unreachable"); got != 2 {
		t.Errorf("b:2 reported unreachable %d times, want 2 (once, then once after the window):\n%s", got, out.String())
	}
	if got := strings.Count(out.String(), "\n"); got != 3 {
		t.Errorf("%d lines, want 3 (b:2 twice, c:3 once):\n%s", got, out.String())
	}
}
