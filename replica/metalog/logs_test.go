package metalog

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
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
