package replica

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Framing limits. A frame is a 4-byte big-endian size and that many bytes.
const (
	frameSizeBytes = 4
	// requestHeaderBytesMin is api key, api version and correlation id.
	requestHeaderBytesMin = 8
	// clientIDBytesMax bounds the client id; Kafka's is an int16 string.
	clientIDBytesMax = 1<<15 - 1
	// taggedFieldsMax bounds how many tagged fields a header may carry
	// before we call it garbage.
	taggedFieldsMax = 64
)

var (
	errShortHeader = errors.New("request header truncated")
	errBadTags     = errors.New("request header tagged fields malformed")
)

// requestHeader is Kafka's request header v1 or v2 (v2 adds tagged fields and
// is used by flexible request versions).
type requestHeader struct {
	apiKey        int16
	apiVersion    int16
	correlationID int32
	clientID      string
}

// parseRequestHeader decodes the header at the start of frame (size prefix
// already removed) and returns it with the body that follows. Whether the
// header has tagged fields depends on the request's version, so it consults
// kmsg for the api key; unknown keys are reported with the partial header so
// that the caller can still answer with the right correlation id.
func parseRequestHeader(frame []byte) (h requestHeader, body []byte, req kmsg.Request, err error) {
	if len(frame) < requestHeaderBytesMin {
		return h, nil, nil, errShortHeader
	}
	h.apiKey = int16(binary.BigEndian.Uint16(frame[0:]))
	h.apiVersion = int16(binary.BigEndian.Uint16(frame[2:]))
	h.correlationID = int32(binary.BigEndian.Uint32(frame[4:]))
	rest := frame[requestHeaderBytesMin:]
	if len(rest) < 2 {
		return h, nil, nil, errShortHeader
	}
	clientIDLength := int16(binary.BigEndian.Uint16(rest))
	rest = rest[2:]
	if clientIDLength >= 0 {
		if int(clientIDLength) > len(rest) {
			return h, nil, nil, errShortHeader
		}
		h.clientID = string(rest[:clientIDLength])
		rest = rest[clientIDLength:]
	}
	req = kmsg.RequestForKey(h.apiKey)
	if req == nil {
		return h, rest, nil, nil
	}
	req.SetVersion(h.apiVersion)
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

// appendResponseFrame appends a whole response frame: size, the response
// header (v0: correlation id; v1: correlation id and empty tagged fields, for
// flexible versions except ApiVersions, which always answers with v0 so that
// a client can parse it before it knows our versions), and the body.
func appendResponseFrame(dst []byte, correlationID int32, resp kmsg.Response) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	dst = binary.BigEndian.AppendUint32(dst, uint32(correlationID))
	if resp.IsFlexible() && resp.Key() != kmsg.ApiVersions.Int16() {
		dst = append(dst, 0)
	}
	dst = resp.AppendTo(dst)
	binary.BigEndian.PutUint32(dst[start:], uint32(len(dst)-start-frameSizeBytes))
	return dst
}

// RequestFrameBytesMax is the largest request the broker reads (Kafka's
// socket.request.max.bytes). A size prefix above it closes the connection
// before any allocation.
const RequestFrameBytesMax = 100 << 20

// CheckFrameSize validates a frame's size prefix.
func CheckFrameSize(size int32) error {
	if size < requestHeaderBytesMin || size > RequestFrameBytesMax {
		return fmt.Errorf("request frame of %d bytes is outside [%d, %d]", size, requestHeaderBytesMin, RequestFrameBytesMax)
	}
	return nil
}
