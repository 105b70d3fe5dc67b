package metalog

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/lni/dragonboat/v4/logger"
)

var routeOnce sync.Once

// RouteDragonboatLogs sends dragonboat's logs to base, tagged with the
// dragonboat package, dropping those below minimum. dragonboat's own
// logger is verbose at INFO (every election, every connection). Call it
// once, early, before any NodeHost starts: dragonboat fixes each package's
// logger at its first message, and later calls do nothing.
func RouteDragonboatLogs(base *slog.Logger, minimum slog.Level) {
	routeOnce.Do(func() {
		repeats := &repeatFilter{window: unreachableRepeatWindow, now: time.Now, last: map[string]time.Time{}}
		logger.SetLoggerFactory(func(packageName string) logger.ILogger {
			adapter := &slogAdapter{logger: base.With("component", "dragonboat/"+packageName), repeats: repeats}
			adapter.minimum.Set(minimum)
			return adapter
		})
	})
}

// slogAdapter is a dragonboat logger.ILogger writing to slog.
type slogAdapter struct {
	logger  *slog.Logger
	minimum slog.LevelVar
	repeats *repeatFilter // nil: every unreachable peer is reported
}

func (a *slogAdapter) log(level slog.Level, format string, args ...interface{}) {
	if level > slog.LevelDebug && (routine(format) || a.repeats.repeated(format, args)) {
		level = slog.LevelDebug
	}
	if level < a.minimum.Level() {
		return
	}
	a.logger.Log(context.Background(), level, fmt.Sprintf(format, args...))
}

// routineFormats are dragonboat messages, by their format strings, that
// it logs at WARNING although nothing is wrong, so that every healthy
// start and every election would print them: the Raft transport is plain
// TCP by design (Cairn's quorum runs on the brokers' own network, as
// KRaft's does without TLS configured), and the pre-vote and vote steps of
// an election are how a quorum forms. They are kept at DEBUG. What an
// operator must see stays a warning: a lost quorum, an unreachable peer,
// dropped proposals, mismatched deployments.
var routineFormats = map[string]bool{
	"mutual TLS disabled, communication is insecure":             true,
	"%s became PreVote candidate":                                true,
	"%s became candidate":                                        true,
	"%s received %s from %s":                                     true,
	"%s sent RequestPreVote to %s":                               true,
	"%s sent RequestVote to %s":                                  true,
	"%s cast preVote from %s index %d term %d, log term: %d":     true,
	"%s cast vote from %s index %d term %d, log term: %d":        true,
	"%s received %d votes and %d rejections, quorum is %d":       true,
	"%s received %d preVotes and %d rejections, quorum is %d":    true,
	"%s become follower after receiving higher term from %s":     true,
	"%s received %s with higher term (%d) from %s":               true,
	"%s become followerKE after receiving higher term from %s":   true,
	"%s rejected preVote %s index %d term %d,logterm %d, utd %t": true,
	"%s rejected vote %s index%d term%d,logterm%d,grant%v,utd%v": true,
	"%s received %s rejection from %s":                           true,
	"%s dropped ReadIndex, not ready":                            true,
	// A peer that cannot be reached is said three times per attempt
	// (dial failed, breaker failed, became unreachable): the last one,
	// which names the peer, is the one kept (and repeatFilter keeps it to
	// once per unreachableRepeatWindow).
	"Nodehost %s failed to get a connection to %s, %v":        true,
	"breaker %s to %s failed, connect and process failed: %s": true,
	"send batch failed, target %s (%v), %d":                   true,
}

func routine(format string) bool { return routineFormats[format] }

// unreachableFormat is dragonboat's report of a peer it cannot reach,
// printed on every retry (about once a second) while the peer is down.
const unreachableFormat = "%s became unreachable, affected %d nodes"

// unreachableRepeatWindow is how long a peer reported unreachable is not
// reported again: a broker waiting for its peers to start says so once,
// not every second.
const unreachableRepeatWindow = 30 * time.Second

// repeatFilter remembers when each peer was last reported unreachable.
type repeatFilter struct {
	window time.Duration
	now    func() time.Time

	mu   sync.Mutex
	last map[string]time.Time // peer address → when last reported
}

// repeated reports whether this message repeats an unreachable peer's
// report made within the window (and otherwise records it).
func (f *repeatFilter) repeated(format string, args []interface{}) bool {
	if f == nil || format != unreachableFormat || len(args) == 0 {
		return false
	}
	peer, now := fmt.Sprint(args[0]), f.now()
	f.mu.Lock()
	defer f.mu.Unlock()
	if last, ok := f.last[peer]; ok && now.Sub(last) < f.window {
		return true
	}
	f.last[peer] = now
	return false
}

// SetLevel lets dragonboat raise or lower one package's verbosity.
func (a *slogAdapter) SetLevel(level logger.LogLevel) {
	switch level {
	case logger.DEBUG:
		a.minimum.Set(slog.LevelDebug)
	case logger.INFO:
		a.minimum.Set(slog.LevelInfo)
	case logger.WARNING:
		a.minimum.Set(slog.LevelWarn)
	default:
		a.minimum.Set(slog.LevelError)
	}
}

func (a *slogAdapter) Debugf(format string, args ...interface{}) {
	a.log(slog.LevelDebug, format, args...)
}

func (a *slogAdapter) Infof(format string, args ...interface{}) {
	a.log(slog.LevelInfo, format, args...)
}

func (a *slogAdapter) Warningf(format string, args ...interface{}) {
	a.log(slog.LevelWarn, format, args...)
}

func (a *slogAdapter) Errorf(format string, args ...interface{}) {
	a.log(slog.LevelError, format, args...)
}

// Panicf logs, then panics as dragonboat expects.
func (a *slogAdapter) Panicf(format string, args ...interface{}) {
	message := fmt.Sprintf(format, args...)
	a.logger.Error(message)
	panic(message)
}
