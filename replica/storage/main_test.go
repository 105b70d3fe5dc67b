package storage

import (
	"flag"
	"os"
	"testing"
)

// propertyChecksDefault is how many cases each rapid property runs when
// -rapid.checks is not given: a few seconds in all, far more than rapid's
// default of 100, because crash and fault schedules are a large space.
const propertyChecksDefault = "2000"

func TestMain(m *testing.M) {
	flag.Parse()
	given := false
	flag.Visit(func(f *flag.Flag) { given = given || f.Name == "rapid.checks" })
	if checks := flag.Lookup("rapid.checks"); checks != nil && !given && !testing.Short() {
		checks.Value.Set(propertyChecksDefault)
	}
	os.Exit(m.Run())
}
