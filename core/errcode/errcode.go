// Package errcode holds the Kafka protocol error codes that Cairn's state
// machines decide, as one type. The partition core, the group coordinator
// and the controller return a Code; the broker writes int16(code) into the
// response field, so a decision and its wire value cannot drift apart.
//
// The package imports nothing from Cairn, so every core package can use it.
package errcode

import (
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Code is a Kafka protocol error code, numbered as Kafka numbers it.
type Code int16

// The codes Cairn decides, named as Kafka names them.
const (
	UnknownServerError        Code = -1
	None                      Code = 0
	OffsetOutOfRange          Code = 1
	CorruptMessage            Code = 2
	UnknownTopicOrPartition   Code = 3
	LeaderNotAvailable        Code = 5
	NotLeaderOrFollower       Code = 6
	RequestTimedOut           Code = 7
	MessageTooLarge           Code = 10
	OffsetMetadataTooLarge    Code = 12
	CoordinatorLoadInProgress Code = 14
	CoordinatorNotAvailable   Code = 15
	NotCoordinator            Code = 16
	InvalidTopicException     Code = 17
	RecordListTooLarge        Code = 18
	NotEnoughReplicas         Code = 19
	// NotEnoughReplicasAfterAppend: the records were written, but the ISR
	// shrank below min.insync.replicas before they committed.
	NotEnoughReplicasAfterAppend Code = 20
	InvalidRequiredAcks          Code = 21
	IllegalGeneration            Code = 22
	InconsistentGroupProtocol    Code = 23
	InvalidGroupID               Code = 24
	UnknownMemberID              Code = 25
	InvalidSessionTimeout        Code = 26
	RebalanceInProgress          Code = 27
	InvalidCommitOffsetSize      Code = 28
	UnsupportedVersion           Code = 35
	TopicAlreadyExists           Code = 36
	InvalidPartitions            Code = 37
	InvalidReplicationFactor     Code = 38
	InvalidReplicaAssignment     Code = 39
	InvalidConfig                Code = 40
	NotController                Code = 41
	InvalidRequest               Code = 42
	OutOfOrderSequenceNumber     Code = 45
	InvalidProducerEpoch         Code = 47
	KafkaStorageError            Code = 56
	UnknownProducerID            Code = 59
	NonEmptyGroup                Code = 68
	GroupIDNotFound              Code = 69
	FetchSessionIDNotFound       Code = 70
	FencedLeaderEpoch            Code = 74
	UnknownLeaderEpoch           Code = 75
	StaleBrokerEpoch             Code = 77
	MemberIDRequired             Code = 79
	PreferredLeaderNotAvailable  Code = 80
	GroupMaxSizeReached          Code = 81
	FencedInstanceID             Code = 82
	EligibleLeadersNotAvailable  Code = 83
	ElectionNotNeeded            Code = 84
	GroupSubscribedToTopic       Code = 86
	InvalidRecord                Code = 87
	UnstableOffsetCommit         Code = 88
	InvalidUpdateVersion         Code = 95
	UnknownTopicID               Code = 100
	DuplicateBrokerRegistration  Code = 101
	BrokerIDNotRegistered        Code = 102
	IneligibleReplica            Code = 107
	FencedMemberEpoch            Code = 110
	UnreleasedInstanceID         Code = 111
	UnsupportedAssignor          Code = 112
	StaleMemberEpoch             Code = 113
	InvalidRegularExpression     Code = 128
)

// String is Kafka's name for c: NONE for 0, the protocol's upper-case name
// for a known code, and UNKNOWN_ERROR_CODE(n) for a number Kafka does not
// define, so a log line never passes an undefined code off as a real one.
func (c Code) String() string {
	switch c {
	case None:
		return "NONE"
	case NotLeaderOrFollower:
		// franz-go keeps the name Kafka used before 2.6.
		return "NOT_LEADER_OR_FOLLOWER"
	}
	e, _ := kerr.ErrorForCode(int16(c)).(*kerr.Error)
	if e == nil || (e.Code != int16(c)) {
		return "UNKNOWN_ERROR_CODE(" + strconv.Itoa(int(c)) + ")"
	}
	return e.Message
}
