package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
)

// version and commit are stamped by the Makefile's build
// (-ldflags "-X main.version=... -X main.commit=..."): GOFLAGS on the
// project's machines carries -buildvcs=false, so the build info alone would
// not know the commit. A plain `go build` or `go install` falls back to what
// debug.ReadBuildInfo has.
var (
	version = ""
	commit  = ""
)

// buildVersion reports the version, commit and Go version of this binary.
func buildVersion() (v, c, goVersion string) {
	v, c, goVersion = version, commit, runtime.Version()
	if info, ok := debug.ReadBuildInfo(); ok {
		if v == "" && info.Main.Version != "" && info.Main.Version != "(devel)" {
			v = info.Main.Version
		}
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" && c == "" {
				c = s.Value
			}
		}
	}
	if v == "" {
		v = "dev"
	}
	if c == "" {
		c = "unknown"
	}
	return v, c, goVersion
}

func printVersion(w io.Writer) {
	v, c, goVersion := buildVersion()
	fmt.Fprintf(w, "cairn %s (commit %s, %s %s/%s)\n", v, c, goVersion, runtime.GOOS, runtime.GOARCH)
}

// runVersion is cairn version: no flags, no arguments (-h says so).
func runVersion(args []string) error {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "usage: cairn version\n\nPrints the version, the commit and the Go version this binary was built with.\n")
	}
	if err := parseFlags(fs, args, os.Stdout); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q: cairn version takes none", fs.Arg(0))
	}
	printVersion(os.Stdout)
	return nil
}
