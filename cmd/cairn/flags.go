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
	if len(args) == 1 && args[0] == flagsProbe {
		return listFlags(fs)
	}
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

// flagsProbe, as a command's only argument, makes parseFlags return the
// command's flags (a *flagsListed) instead of parsing: that is how cairn
// completion learns every command's flags from the flag sets the commands
// themselves define, so the scripts cannot drift from them. No command
// line can carry it, since an argument cannot contain a NUL byte. So every
// command must reach parseFlags before it does anything else.
const flagsProbe = "\x00cairn-list-flags"

// flagsListed is parseFlags' answer to flagsProbe.
type flagsListed struct{ flags []*flag.Flag }

func (*flagsListed) Error() string { return "flags listed for completion" }

func listFlags(fs *flag.FlagSet) error {
	listed := &flagsListed{}
	fs.VisitAll(func(f *flag.Flag) { listed.flags = append(listed.flags, f) })
	return listed
}
