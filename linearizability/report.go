package linearizability

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/anishathalye/porcupine"
)

// WriteReport writes Porcupine's HTML visualization of every partition of
// res that is not VerdictOK (illegal, or undecided when the search timed
// out) into dir, creating dir if needed, and returns the paths written in
// partition order. Files are named "<name>-<topic>-<partition>.html", with
// characters other than letters, digits, '.', '_' and '-' replaced by '_'.
//
// h must be the history res was computed from. Operations the search was
// not given (failed produces, fetch errors, empty fetches, unknown produces
// that could not matter) are drawn as annotations on their client's row,
// and the pre-check's violations as annotations on a "violations" row.
// res must come from CheckLog: the visualization replays its model.
func WriteReport(dir string, name string, h History, res Result) (paths []string, err error) {
	return writeReport(dir, name, h, res, false)
}

// WriteReportAll is WriteReport for every partition checked, linearizable
// or not: a run that failed some other guarantee (a durability or ownership
// check) still gets the picture of what its clients saw.
func WriteReportAll(dir string, name string, h History, res Result) (paths []string, err error) {
	return writeReport(dir, name, h, res, true)
}

func writeReport(dir string, name string, h History, res Result, all bool) (paths []string, err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("linearizability: create report directory: %w", err)
	}
	for i := range res.Partitions {
		partition := &res.Partitions[i]
		if partition.Verdict == VerdictOK && !all {
			continue
		}
		if partition.model == nil {
			return paths, fmt.Errorf("linearizability: result for %s carries no search information; pass a Result from CheckLog", partition.TopicPartition)
		}
		info := partition.Info
		info.AddAnnotations(annotations(h, partition))
		path := filepath.Join(dir, fmt.Sprintf("%s-%s-%d.html",
			fileNamePart(name), fileNamePart(partition.TopicPartition.Topic), partition.TopicPartition.Partition))
		if err := porcupine.VisualizePath(partition.model.porcupineModel(), info, path); err != nil {
			return paths, fmt.Errorf("linearizability: write %s: %w", path, err)
		}
		paths = append(paths, path)
	}
	return paths, nil
}

// annotations describes what the visualization would otherwise not show.
func annotations(h History, partition *PartitionResult) []porcupine.Annotation {
	var result []porcupine.Annotation
	modelled := make(map[int]bool, len(partition.modelled))
	for _, operation := range partition.modelled {
		modelled[operation] = true
	}
	first, seen := int64(0), false
	for operation := range h {
		op := &h[operation]
		if op.TopicPartition() != partition.TopicPartition {
			continue
		}
		if !seen || op.Call < first {
			first, seen = op.Call, true
		}
		if modelled[operation] {
			continue
		}
		end := op.Return
		if op.Outcome == OutcomeUnknown {
			end = op.Call
		}
		var description string
		if op.Kind == OpProduce {
			description = fmt.Sprintf("produce %s %s (not searched)", formatValues(op.Values), op.Outcome)
		} else {
			description = fmt.Sprintf("fetch at %d, %s, %d records (not searched)", op.FetchOffset, op.Outcome, len(op.Records))
		}
		result = append(result, porcupine.Annotation{
			ClientId:        op.Client,
			Start:           op.Call,
			End:             end,
			Description:     description,
			Details:         fmt.Sprintf("op #%d", operation),
			BackgroundColor: "#e0e0e0",
		})
	}
	for _, violation := range partition.Violations {
		result = append(result, porcupine.Annotation{
			Tag:             "violations",
			Start:           first,
			Description:     fmt.Sprintf("%s at %d", violation.Kind, violation.Offset),
			Details:         violation.Detail,
			BackgroundColor: "#f4c7c3",
		})
	}
	return result
}

// fileNamePart makes text safe to use in a file name.
func fileNamePart(text string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
			return r
		default:
			return '_'
		}
	}, text)
}
