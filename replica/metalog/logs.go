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
	if level < a.minimum.Level() {
		return
	}
	a.logger.Log(context.Background(), level, fmt.Sprintf(format, args...))
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
