package errcode

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

// TestCodesMatchKafka pins every constant to franz-go's error of the same
// name, so a typo in this package cannot renumber a code on the wire.
func TestCodesMatchKafka(t *testing.T) {
	for _, tc := range []struct {
		code Code
		kerr *kerr.Error
	}{
		{UnknownServerError, kerr.UnknownServerError},
		{OffsetOutOfRange, kerr.OffsetOutOfRange},
		{CorruptMessage, kerr.CorruptMessage},
		{UnknownTopicOrPartition, kerr.UnknownTopicOrPartition},
		{LeaderNotAvailable, kerr.LeaderNotAvailable},
		{NotLeaderOrFollower, kerr.NotLeaderForPartition},
		{RequestTimedOut, kerr.RequestTimedOut},
		{MessageTooLarge, kerr.MessageTooLarge},
		{OffsetMetadataTooLarge, kerr.OffsetMetadataTooLarge},
		{CoordinatorLoadInProgress, kerr.CoordinatorLoadInProgress},
		{CoordinatorNotAvailable, kerr.CoordinatorNotAvailable},
		{NotCoordinator, kerr.NotCoordinator},
		{InvalidTopicException, kerr.InvalidTopicException},
		{RecordListTooLarge, kerr.RecordListTooLarge},
		{NotEnoughReplicas, kerr.NotEnoughReplicas},
		{NotEnoughReplicasAfterAppend, kerr.NotEnoughReplicasAfterAppend},
		{InvalidRequiredAcks, kerr.InvalidRequiredAcks},
		{IllegalGeneration, kerr.IllegalGeneration},
		{InconsistentGroupProtocol, kerr.InconsistentGroupProtocol},
		{InvalidGroupID, kerr.InvalidGroupID},
		{UnknownMemberID, kerr.UnknownMemberID},
		{InvalidSessionTimeout, kerr.InvalidSessionTimeout},
		{RebalanceInProgress, kerr.RebalanceInProgress},
		{InvalidCommitOffsetSize, kerr.InvalidCommitOffsetSize},
		{UnsupportedVersion, kerr.UnsupportedVersion},
		{TopicAlreadyExists, kerr.TopicAlreadyExists},
		{InvalidPartitions, kerr.InvalidPartitions},
		{InvalidReplicationFactor, kerr.InvalidReplicationFactor},
		{InvalidReplicaAssignment, kerr.InvalidReplicaAssignment},
		{InvalidConfig, kerr.InvalidConfig},
		{NotController, kerr.NotController},
		{InvalidRequest, kerr.InvalidRequest},
		{OutOfOrderSequenceNumber, kerr.OutOfOrderSequenceNumber},
		{InvalidProducerEpoch, kerr.InvalidProducerEpoch},
		{KafkaStorageError, kerr.KafkaStorageError},
		{UnknownProducerID, kerr.UnknownProducerID},
		{NonEmptyGroup, kerr.NonEmptyGroup},
		{GroupIDNotFound, kerr.GroupIDNotFound},
		{FetchSessionIDNotFound, kerr.FetchSessionIDNotFound},
		{FencedLeaderEpoch, kerr.FencedLeaderEpoch},
		{UnknownLeaderEpoch, kerr.UnknownLeaderEpoch},
		{StaleBrokerEpoch, kerr.StaleBrokerEpoch},
		{MemberIDRequired, kerr.MemberIDRequired},
		{PreferredLeaderNotAvailable, kerr.PreferredLeaderNotAvailable},
		{GroupMaxSizeReached, kerr.GroupMaxSizeReached},
		{FencedInstanceID, kerr.FencedInstanceID},
		{EligibleLeadersNotAvailable, kerr.EligibleLeadersNotAvailable},
		{ElectionNotNeeded, kerr.ElectionNotNeeded},
		{GroupSubscribedToTopic, kerr.GroupSubscribedToTopic},
		{InvalidRecord, kerr.InvalidRecord},
		{UnstableOffsetCommit, kerr.UnstableOffsetCommit},
		{InvalidUpdateVersion, kerr.InvalidUpdateVersion},
		{UnknownTopicID, kerr.UnknownTopicID},
		{DuplicateBrokerRegistration, kerr.DuplicateBrokerRegistration},
		{BrokerIDNotRegistered, kerr.BrokerIDNotRegistered},
		{IneligibleReplica, kerr.IneligibleReplica},
		{FencedMemberEpoch, kerr.FencedMemberEpoch},
		{UnreleasedInstanceID, kerr.UnreleasedInstanceID},
		{UnsupportedAssignor, kerr.UnsupportedAssignor},
		{StaleMemberEpoch, kerr.StaleMemberEpoch},
		{InvalidRegularExpression, kerr.InvalidRegularExpression},
	} {
		if int16(tc.code) != tc.kerr.Code {
			t.Errorf("%s is %d here, %d in Kafka", tc.kerr.Message, int16(tc.code), tc.kerr.Code)
		}
		if tc.code != NotLeaderOrFollower && tc.code.String() != tc.kerr.Message {
			t.Errorf("code %d: String() = %q, want %q", int16(tc.code), tc.code.String(), tc.kerr.Message)
		}
	}
}

func TestString(t *testing.T) {
	for _, tc := range []struct {
		code Code
		want string
	}{
		{None, "NONE"},
		{NotLeaderOrFollower, "NOT_LEADER_OR_FOLLOWER"},
		{UnknownServerError, "UNKNOWN_SERVER_ERROR"},
		{GroupIDNotFound, "GROUP_ID_NOT_FOUND"},
		{Code(-2), "UNKNOWN_ERROR_CODE(-2)"},
		{Code(30000), "UNKNOWN_ERROR_CODE(30000)"},
	} {
		if got := tc.code.String(); got != tc.want {
			t.Errorf("Code(%d).String() = %q, want %q", int16(tc.code), got, tc.want)
		}
	}
}
