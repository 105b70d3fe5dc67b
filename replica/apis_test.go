package replica

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"cairn/replica/transport"
)

// apisDocPath is the generated table of APIs.
const apisDocPath = "../docs/APIS.md"

// TestAPITable keeps docs/APIS.md equal to the registry (apis.go). After
// changing the table, regenerate it with
// `go test ./replica -run TestAPITable -rewrite`.
func TestAPITable(t *testing.T) {
	want := apisDoc()
	got, err := os.ReadFile(apisDocPath)
	if rewrite := flag.Lookup("rewrite"); rewrite != nil && rewrite.Value.String() == "true" {
		if err := os.WriteFile(apisDocPath, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("%s is stale: run go test ./replica -run TestAPITable -rewrite\nwant:\n%s", apisDocPath, want)
	}
}

// apisDoc renders the registry as Markdown.
func apisDoc() string {
	var b strings.Builder
	b.WriteString("# APIs\n\n")
	b.WriteString("The Kafka APIs a Cairn broker answers, generated from the registry in\n")
	b.WriteString("`replica/apis.go` by `go test ./replica -run TestAPITable -rewrite`; do not\n")
	b.WriteString("edit by hand. Inter-broker APIs are answered but not advertised in\n")
	b.WriteString("ApiVersions. A request frame above its API's limit closes the connection\n")
	b.WriteString("before it is decoded.\n\n")
	b.WriteString("| key | API | versions | inter-broker | frame limit | why these versions |\n")
	b.WriteString("|---:|---|---|---|---:|---|\n")
	for _, a := range apiTable {
		interBroker := ""
		if a.interBroker {
			interBroker = "yes"
		}
		fmt.Fprintf(&b, "| %d | %s | %d–%d | %s | %s | %s |\n", a.key, a.key.Name(), a.min, a.max, interBroker, mebibytes(a.frameBytesMax), a.versions)
	}
	return b.String()
}

func mebibytes(n int) string { return fmt.Sprintf("%d MiB", n>>20) }

// TestAPIRegistry checks what the table promises: every row decodes at both
// ends of its range and is refused one version past it; ApiVersions lists
// exactly the rows that are not inter-broker; a frame over an API's limit is
// refused before decoding.
func TestAPIRegistry(t *testing.T) {
	formatter := kmsg.NewRequestFormatter(kmsg.FormatterClientID("registry"))
	advertised := map[int16]kmsg.ApiVersionsResponseApiKey{}
	for _, k := range advertisedAPIs() {
		advertised[k.ApiKey] = k
	}
	for _, a := range apiTable {
		k, listed := advertised[a.key.Int16()]
		if listed == a.interBroker {
			t.Errorf("%s: advertised %v, inter-broker %v", a.key.Name(), listed, a.interBroker)
		}
		if listed && (k.MinVersion != a.min || k.MaxVersion != a.max) {
			t.Errorf("%s advertised as %d-%d, table says %d-%d", a.key.Name(), k.MinVersion, k.MaxVersion, a.min, a.max)
		}
		for _, v := range []int16{a.min, a.max, a.max + 1} {
			req := a.key.Request()
			req.SetVersion(v)
			frame := formatter.AppendRequest(nil, req, 1)[transport.FrameSizeBytes:]
			got := DecodeRequest(frame)
			accepted := got.refusal == "" && !got.unsupportedApiVersions
			if accepted != (v <= a.max) {
				t.Errorf("%s v%d: accepted %v (refusal %q)", a.key.Name(), v, accepted, got.refusal)
			}
		}
	}
	if len(advertised) != len(apiTable)-4 {
		t.Errorf("%d APIs advertised; want every one but the four inter-broker APIs", len(advertised))
	}
	metadata := formatter.AppendRequest(nil, kmsg.NewPtrMetadataRequest(), 1)[transport.FrameSizeBytes:]
	oversized := append(metadata, make([]byte, nonProduceFrameBytesMax)...)
	if got := DecodeRequest(oversized); got.refusal != "oversized request" {
		t.Errorf("a Metadata frame of %d bytes: refusal %q, want oversized request", len(oversized), got.refusal)
	}
}
