package metalog

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

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
		logger.SetLoggerFactory(func(packageName string) logger.ILogger {
			adapter := &slogAdapter{logger: base.With("component", "dragonboat/"+packageName)}
			adapter.minimum.Set(minimum)
			return adapter
		})
	})
}

// slogAdapter is a dragonboat logger.ILogger writing to slog.
type slogAdapter struct {
	logger  *slog.Logger
	minimum slog.LevelVar
}

func (a *slogAdapter) log(level slog.Level, format string, args ...interface{}) {
	if routine(format) && level > slog.LevelDebug {
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
	"mutual TLS disabled, communication is insecure":          true,
	"%s became PreVote candidate":                             true,
	"%s became candidate":                                     true,
	"%s received %s from %s":                                  true,
	"%s sent RequestPreVote to %s":                            true,
	"%s sent RequestVote to %s":                               true,
	"%s cast preVote from %s index %d term %d, log term: %d":  true,
	"%s cast vote from %s index %d term %d, log term: %d":     true,
	"%s received %d votes and %d rejections, quorum is %d":    true,
	"%s received %d preVotes and %d rejections, quorum is %d": true,
	"%s become follower after receiving higher term from %s":  true,
	"%s received %s with higher term (%d) from %s":            true,
}

func routine(format string) bool { return routineFormats[format] }

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
