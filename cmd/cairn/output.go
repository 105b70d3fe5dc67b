package main

import (
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
)

// The listing commands (topic list and describe, group list and describe,
// cluster info and health) print a table for people or, with --json (or
// -o json, as rpk spells it), one JSON document for scripts. The JSON
// field names are lower_snake_case everywhere, as consume --format json
// and perf --json already are; a value the cluster did not give is null,
// not a sentinel such as -1.

// outputFlags are the listing commands' --json and -o.
type outputFlags struct {
	json   *bool
	format *string
}

func addOutputFlags(fs *flag.FlagSet) outputFlags {
	return outputFlags{
		json:   fs.Bool("json", false, "print one JSON document (lower_snake_case fields) instead of a table"),
		format: fs.String("o", "text", "output format: text or json (-o json is --json)"),
	}
}

// wantJSON reports whether JSON was asked for, refusing an unknown -o.
func (f outputFlags) wantJSON() (bool, error) {
	switch *f.format {
	case "text":
		return *f.json, nil
	case "json":
		return true, nil
	}
	return false, fmt.Errorf("-o %q: want text or json", *f.format)
}

// writeJSON prints v as one indented JSON document.
func writeJSON(w io.Writer, v any) error {
	encoder := json.NewEncoder(w)
	encoder.SetIndent("", "  ")
	return encoder.Encode(v)
}

// kafkaTopicID prints a topic id as Kafka's tools do (Uuid.toString):
// URL-safe base64 without padding, 22 characters.
func kafkaTopicID(id [16]byte) string {
	return base64.RawURLEncoding.EncodeToString(id[:])
}

// errorText is err's text, or nil for no error: JSON's "error" field.
func errorText(err error) *string {
	if err == nil {
		return nil
	}
	text := err.Error()
	return &text
}

// known is a pointer to v when ok, nil (JSON null) when the value is not
// known.
func known[V any](v V, ok bool) *V {
	if !ok {
		return nil
	}
	return &v
}

// plural is "1 record", "2 records": count and noun, the noun's plural
// made by adding s unless pluralForm is given.
func plural(count int64, noun string, pluralForm ...string) string {
	if count == 1 {
		return fmt.Sprintf("%d %s", count, noun)
	}
	if len(pluralForm) > 0 {
		return fmt.Sprintf("%d %s", count, pluralForm[0])
	}
	return fmt.Sprintf("%d %ss", count, noun)
}

// failedOf says how many of total things a command failed on: "the topic
// was not created" for one, "2 of 3 topics not created" for more.
func failedOf(failed, total int, noun, participle string) string {
	if total == 1 {
		return fmt.Sprintf("the %s was not %s", noun, participle)
	}
	return fmt.Sprintf("%d of %d %ss not %s", failed, total, noun, participle)
}
