package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
)

// parseFlags parses args into fs the way every cairn command does: -h (or
// --help) prints the command's usage to help (standard output) and ends the
// command with flag.ErrHelp, which main and dispatch turn into exit status 0;
// a bad flag is one line on the error stream with a hint to -h, not the whole
// usage. fs.Usage must print to fs.Output().
func parseFlags(fs *flag.FlagSet, args []string, help io.Writer) error {
	usage, output := fs.Usage, fs.Output()
	fs.Usage = func() {}
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	fs.Usage = usage
	fs.SetOutput(output)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fs.SetOutput(help)
		usage()
		fs.SetOutput(output)
		return flag.ErrHelp
	case err != nil:
		return fmt.Errorf("%v (run 'cairn %s -h' for its flags)", err, fs.Name())
	}
	return nil
}
