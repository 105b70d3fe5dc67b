package replica

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// handleApiVersions lists the advertised APIs of the registry (apis.go).
func (n *Node) handleApiVersions(r *request, req *kmsg.ApiVersionsRequest) {
	resp := req.ResponseKind().(*kmsg.ApiVersionsResponse)
	resp.ApiKeys = advertisedAPIs()
	n.answer(r, resp)
}

// unsupportedApiVersions answers an ApiVersions request of a version above
// ours: UNSUPPORTED_VERSION with a v0 body listing our ranges, so that the
// client can retry with a version we speak (KIP-511).
func unsupportedApiVersions() kmsg.Response {
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.ErrorCode = kerr.UnsupportedVersion.Code
	resp.ApiKeys = advertisedAPIs()
	return &versionPinned{resp}
}

// versionPinned keeps a response at version 0 whatever version respond sets.
type versionPinned struct{ *kmsg.ApiVersionsResponse }

func (v *versionPinned) SetVersion(int16) { v.ApiVersionsResponse.SetVersion(0) }
