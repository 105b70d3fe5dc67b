package controller

// The internal topics are the ones the brokers keep for themselves: the
// group coordinators' __consumer_offsets and, once transactions exist, the
// transaction coordinators' __transaction_state. Clients see them marked
// internal in Metadata, and the controller refuses what would break them.
const (
	OffsetsTopic     = "__consumer_offsets"
	TransactionTopic = "__transaction_state"
)

// IsInternalTopic reports whether name is one of the internal topics.
func IsInternalTopic(name string) bool {
	return name == OffsetsTopic || name == TransactionTopic
}
