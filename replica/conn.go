package replica

// conn keeps a connection's responses in request order. Kafka clients match
// responses by correlation id but also rely on them arriving in the order
// the requests were sent; a long-polling fetch must hold back the answer to
// a metadata request sent after it on the same connection.
type conn struct {
	nextSeq uint64            // number for the next request that will be answered
	sendSeq uint64            // the next response to release
	held    map[uint64][]byte // finished responses waiting for an earlier one
	closing bool
}

// take numbers a request that will get a response.
func (c *conn) take() uint64 {
	seq := c.nextSeq
	c.nextSeq++
	return seq
}

// finish records response seq and returns the frames that may now be sent,
// in order.
func (c *conn) finish(seq uint64, frame []byte) [][]byte {
	if seq != c.sendSeq {
		c.held[seq] = frame
		return nil
	}
	out := [][]byte{frame}
	c.sendSeq++
	for {
		next, ok := c.held[c.sendSeq]
		if !ok {
			return out
		}
		delete(c.held, c.sendSeq)
		out = append(out, next)
		c.sendSeq++
	}
}
