package transport

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestRequestRoundTrip parses what a client encodes: header fields,
// flexible and not, and a body kmsg decodes back.
func TestRequestRoundTrip(t *testing.T) {
	formatter := kmsg.NewRequestFormatter(kmsg.FormatterClientID("client-1"))
	for _, version := range []int16{4, 12} { // Fetch v12 is flexible, v4 is not
		req := kmsg.NewPtrFetchRequest()
		req.SetVersion(version)
		req.MaxWaitMillis = 250
		frame := formatter.AppendRequest(nil, req, 42)
		payload := Payload(frame)
		if !IsFetch(frame) || RequestKey(payload) != kmsg.Fetch.Int16() || RequestCorrelation(payload) != 42 {
			t.Fatalf("v%d: key %d, correlation %d", version, RequestKey(payload), RequestCorrelation(payload))
		}
		h, body, parsed, err := ParseRequestHeader(payload)
		if err != nil {
			t.Fatalf("v%d: %v", version, err)
		}
		if h.APIVersion != version || h.CorrelationID != 42 || h.ClientID != "client-1" {
			t.Fatalf("v%d: header %+v", version, h)
		}
		if err := Decode(parsed, body); err != nil || parsed.(*kmsg.FetchRequest).MaxWaitMillis != 250 {
			t.Fatalf("v%d: body decoded to %+v, %v", version, parsed, err)
		}
	}
	if _, _, _, err := ParseRequestHeader([]byte{0, 1, 0}); err == nil {
		t.Fatal("a truncated header parsed")
	}
}

// TestResponseRoundTrip reads back what AppendResponseFrame writes,
// including ApiVersions, whose header stays v0 at flexible versions.
func TestResponseRoundTrip(t *testing.T) {
	for _, resp := range []kmsg.Response{kmsg.NewPtrMetadataResponse(), kmsg.NewPtrApiVersionsResponse()} {
		resp.SetVersion(3)
		frame := AppendResponseFrame(nil, 7, resp)
		payload := Payload(frame)
		if ResponseCorrelation(payload) != 7 {
			t.Fatalf("%s: correlation %d", kmsg.NameForKey(resp.Key()), ResponseCorrelation(payload))
		}
		back := resp.Key()
		decoded := kmsg.ResponseForKey(back)
		decoded.SetVersion(3)
		body, err := ResponseBody(payload, decoded)
		if err != nil {
			t.Fatal(err)
		}
		if err := decoded.ReadFrom(body); err != nil {
			t.Fatalf("%s: %v", kmsg.NameForKey(back), err)
		}
	}
	if _, err := ResponseBody([]byte{0, 0}, kmsg.NewPtrMetadataResponse()); err == nil {
		t.Fatal("a truncated response header parsed")
	}
}
