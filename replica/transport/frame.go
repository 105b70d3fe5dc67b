// Package transport is how Kafka frames travel between a broker and its
// clients and peers, in one place for the runtime shell (replica/shell, over
// TCP) and the simulator (sim, over netsim): framing, request and response
// headers, and the policy of a broker's sessions with its peers (which
// connection carries which request). It holds no sockets, goroutines or
// clocks: the shell and the simulator bring those, so the simulator drives
// exactly the decisions production makes.
package transport

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Framing limits. A frame is a 4-byte big-endian size and that many bytes.
const (
	FrameSizeBytes = 4
	// RequestHeaderBytesMin is api key, api version and correlation id.
	RequestHeaderBytesMin = 8
	// clientIDBytesMax bounds the client id; Kafka's is an int16 string.
	clientIDBytesMax = 1<<15 - 1
	// taggedFieldsMax bounds how many tagged fields a header may carry
	// before we call it garbage.
	taggedFieldsMax = 64
)

var (
	errShortHeader   = errors.New("request header truncated")
	errBadTags       = errors.New("header tagged fields malformed")
	errShortResponse = errors.New("response header truncated")
)

// RequestHeader is Kafka's request header v1 or v2 (v2 adds tagged fields and
// is used by flexible request versions).
type RequestHeader struct {
	APIKey        int16
	APIVersion    int16
	CorrelationID int32
	ClientID      string
}

// ParseRequestHeader decodes the header at the start of frame (size prefix
// already removed) and returns it with the body that follows. Whether the
// header has tagged fields depends on the request's version, so it consults
// kmsg for the api key; unknown keys are reported with the partial header so
// that the caller can still answer with the right correlation id.
func ParseRequestHeader(frame []byte) (h RequestHeader, body []byte, req kmsg.Request, err error) {
	if len(frame) < RequestHeaderBytesMin {
		return h, nil, nil, errShortHeader
	}
	h.APIKey = int16(binary.BigEndian.Uint16(frame[0:]))
	h.APIVersion = int16(binary.BigEndian.Uint16(frame[2:]))
	h.CorrelationID = int32(binary.BigEndian.Uint32(frame[4:]))
	rest := frame[RequestHeaderBytesMin:]
	if len(rest) < 2 {
		return h, nil, nil, errShortHeader
	}
	clientIDLength := int16(binary.BigEndian.Uint16(rest))
	rest = rest[2:]
	if clientIDLength >= 0 {
		if int(clientIDLength) > len(rest) {
			return h, nil, nil, errShortHeader
		}
		h.ClientID = string(rest[:clientIDLength])
		rest = rest[clientIDLength:]
	}
	req = kmsg.RequestForKey(h.APIKey)
	if req == nil {
		return h, rest, nil, nil
	}
	req.SetVersion(h.APIVersion)
	if req.IsFlexible() {
		if rest, err = skipTaggedFields(rest); err != nil {
			return h, nil, nil, err
		}
	}
	return h, rest, req, nil
}

// skipTaggedFields skips a KIP-482 tagged-field section: a count, then per
// field a tag, a size and that many bytes, all unsigned varints.
func skipTaggedFields(b []byte) ([]byte, error) {
	count, n := binary.Uvarint(b)
	if n <= 0 || count > taggedFieldsMax {
		return nil, errBadTags
	}
	b = b[n:]
	for i := uint64(0); i < count; i++ {
		if _, n = binary.Uvarint(b); n <= 0 {
			return nil, errBadTags
		}
		b = b[n:]
		size, m := binary.Uvarint(b)
		if m <= 0 || size > uint64(len(b)-m) {
			return nil, errBadTags
		}
		b = b[m+int(size):]
	}
	return b, nil
}

// AppendResponseFrame appends a whole response frame: size, the response
// header (v0: correlation id; v1: correlation id and empty tagged fields, for
// flexible versions except ApiVersions, which always answers with v0 so that
// a client can parse it before it knows our versions), and the body.
func AppendResponseFrame(dst []byte, correlationID int32, resp kmsg.Response) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	dst = binary.BigEndian.AppendUint32(dst, uint32(correlationID))
	if resp.IsFlexible() && resp.Key() != kmsg.ApiVersions.Int16() {
		dst = append(dst, 0)
	}
	dst = resp.AppendTo(dst)
	binary.BigEndian.PutUint32(dst[start:], uint32(len(dst)-start-FrameSizeBytes))
	return dst
}

// RequestFrameBytesMax is the largest request the broker reads (Kafka's
// socket.request.max.bytes). A size prefix above it closes the connection
// before any allocation.
const RequestFrameBytesMax = 100 << 20

// CheckFrameSize validates a frame's size prefix.
func CheckFrameSize(size int32) error {
	if size < RequestHeaderBytesMin || size > RequestFrameBytesMax {
		return fmt.Errorf("request frame of %d bytes is outside [%d, %d]", size, RequestHeaderBytesMin, RequestFrameBytesMax)
	}
	return nil
}

// Payload is a frame without its size prefix: what a message-based network
// carries and what the node's HandleFrame and PeerResponse take. A frame
// too short to have a prefix gives nil.
func Payload(frame []byte) []byte {
	if len(frame) < FrameSizeBytes {
		return nil
	}
	return frame[FrameSizeBytes:]
}

// RequestKey is the API key of a request payload (size prefix removed), or
// -1 if it is too short to have one.
func RequestKey(payload []byte) int16 {
	if len(payload) < 2 {
		return -1
	}
	return int16(binary.BigEndian.Uint16(payload))
}

// RequestCorrelation is the correlation id of a request payload, or -1.
func RequestCorrelation(payload []byte) int32 {
	if len(payload) < RequestHeaderBytesMin {
		return -1
	}
	return int32(binary.BigEndian.Uint32(payload[4:]))
}

// ResponseCorrelation is the correlation id of a response payload (it
// opens every response header), or -1.
func ResponseCorrelation(payload []byte) int32 {
	if len(payload) < 4 {
		return -1
	}
	return int32(binary.BigEndian.Uint32(payload))
}

// IsFetch reports whether a request frame (size prefix included) is a
// Fetch.
func IsFetch(frame []byte) bool { return RequestKey(Payload(frame)) == kmsg.Fetch.Int16() }

// Decode parses a request or response body. kmsg reports malformed input
// as errors; the recover is a last line so that no byte sequence from a
// client or a peer can take the broker down.
func Decode(message interface{ ReadFrom([]byte) error }, body []byte) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("decoder panic: %v", r)
		}
	}()
	return message.ReadFrom(body)
}

// ResponseBody returns the body of a response payload (size prefix
// removed): after the correlation id and, for a flexible response but
// ApiVersions, the header's tagged fields.
func ResponseBody(payload []byte, resp kmsg.Response) ([]byte, error) {
	if len(payload) < 4 {
		return nil, errShortResponse
	}
	body := payload[4:]
	if resp.IsFlexible() && resp.Key() != kmsg.ApiVersions.Int16() {
		return skipTaggedFields(body)
	}
	return body, nil
}
