package netsim

import (
	"fmt"
	"math/bits"
	"math/rand/v2"
	"time"
)

// durationOptionMax bounds every duration in Options and PathOptions, so that
// sums of delays, timeouts and virtual times can never overflow.
const durationOptionMax = 24 * time.Hour

// bandwidthBytesPerSecondMax bounds PathOptions.BandwidthBytesPerSecond
// (1 TB/s, far beyond any link the simulator needs).
const bandwidthBytesPerSecondMax = 1 << 40

// retransmissionsMax bounds how many times in a row one message may be lost
// (and retransmitted with a doubled timeout) before it gets through.
const retransmissionsMax = 6

// Distribution names the shape from which one-way delays are drawn. Every
// distribution has mean DelayMean and never goes below DelayMin.
type Distribution uint8

const (
	// DistributionFixed makes every delay exactly DelayMean.
	DistributionFixed Distribution = iota
	// DistributionUniform draws uniformly from
	// [DelayMin, 2*DelayMean-DelayMin].
	DistributionUniform
	// DistributionExponential draws DelayMin plus a long tail with mean
	// DelayMean-DelayMin. The tail is piecewise uniform, computed in
	// integers: it matches an exponential distribution at every doubling of
	// its survival probability and is capped at 22 times its mean.
	DistributionExponential
	distributionCount
)

// String returns the distribution's name.
func (d Distribution) String() string {
	switch d {
	case DistributionFixed:
		return "fixed"
	case DistributionUniform:
		return "uniform"
	case DistributionExponential:
		return "exponential"
	}
	return fmt.Sprintf("Distribution(%d)", uint8(d))
}

// Ratio is a probability written as Numerator/Denominator, so that a seed
// draws the same outcomes on every machine (no floating point). The zero
// Ratio is probability zero.
type Ratio struct {
	Numerator   uint64
	Denominator uint64
}

// String returns "0" for the zero probability and "n/d" otherwise.
func (r Ratio) String() string {
	if r.Numerator == 0 {
		return "0"
	}
	return fmt.Sprintf("%d/%d", r.Numerator, r.Denominator)
}

func (r Ratio) validate(name string) error {
	if r.Numerator > r.Denominator {
		return fmt.Errorf("netsim: %s %d/%d is above 1", name, r.Numerator, r.Denominator)
	}
	return nil
}

// chance reports whether an event of probability r happens. It draws from
// rng only when the outcome is uncertain.
func (r Ratio) chance(rng *rand.Rand) bool {
	switch {
	case r.Numerator == 0:
		return false
	case r.Numerator >= r.Denominator:
		return true
	}
	return rng.Uint64N(r.Denominator) < r.Numerator
}

// PathOptions is the behaviour of one direction of a path between two
// nodes: every connection from one node to another shares it.
type PathOptions struct {
	// DelayDistribution is the shape of the one-way delay.
	DelayDistribution Distribution
	// DelayMin is the smallest one-way delay; 0 ≤ DelayMin ≤ DelayMean.
	DelayMin time.Duration
	// DelayMean is the mean one-way delay.
	DelayMean time.Duration
	// ConnectDelay is added to the handshake's round trip (two one-way
	// delays) before a dial completes: accept-queue and TLS costs.
	ConnectDelay time.Duration
	// BandwidthBytesPerSecond is the capacity of the path; 0 means
	// unlimited. All connections on the path share it first come, first
	// served: a message starts transmitting when the path has finished the
	// messages sent before it, and arrives one delay after its last byte.
	BandwidthBytesPerSecond int64
}

// Validate returns an error describing the first out-of-range field.
func (p PathOptions) Validate() error {
	switch {
	case p.DelayDistribution >= distributionCount:
		return fmt.Errorf("netsim: unknown delay distribution %d", p.DelayDistribution)
	case p.DelayMin < 0 || p.DelayMin > p.DelayMean:
		return fmt.Errorf("netsim: need 0 ≤ DelayMin (%v) ≤ DelayMean (%v)", p.DelayMin, p.DelayMean)
	case p.DelayMean > durationOptionMax:
		return fmt.Errorf("netsim: DelayMean %v is above %v", p.DelayMean, durationOptionMax)
	case p.ConnectDelay < 0 || p.ConnectDelay > durationOptionMax:
		return fmt.Errorf("netsim: ConnectDelay %v is outside [0, %v]", p.ConnectDelay, durationOptionMax)
	case p.BandwidthBytesPerSecond < 0 || p.BandwidthBytesPerSecond > bandwidthBytesPerSecondMax:
		return fmt.Errorf("netsim: BandwidthBytesPerSecond %d is outside [0, %d]",
			p.BandwidthBytesPerSecond, int64(bandwidthBytesPerSecondMax))
	}
	return nil
}

// String describes the path options on one line, for traces.
func (p PathOptions) String() string {
	bandwidth := "unlimited"
	if p.BandwidthBytesPerSecond > 0 {
		bandwidth = fmt.Sprintf("%dB/s", p.BandwidthBytesPerSecond)
	}
	return fmt.Sprintf("delay=%s(min=%v,mean=%v) connect_delay=%v bandwidth=%s",
		p.DelayDistribution, p.DelayMin, p.DelayMean, p.ConnectDelay, bandwidth)
}

// drawDelay draws one one-way delay.
func (p PathOptions) drawDelay(rng *rand.Rand) time.Duration {
	spread := uint64(p.DelayMean - p.DelayMin)
	switch p.DelayDistribution {
	case DistributionUniform:
		return p.DelayMin + time.Duration(rng.Uint64N(2*spread+1))
	case DistributionExponential:
		return p.DelayMin + exponentialTail(rng, spread)
	}
	return p.DelayMean
}

// exponentialTail draws a nonnegative duration with the given mean and an
// exponential-like tail, in integer arithmetic only. A count of doublings k
// has P(k ≥ j) = 2^-j (the leading zeros of 32 random bits); the result is
// uniform within [k, k+1) units of 2/3 of the mean. The mean of k is 1 and
// of the fraction 1/2, so the mean of the result is (2/3)(3/2) = the mean.
func exponentialTail(rng *rand.Rand, mean uint64) time.Duration {
	if mean == 0 {
		return 0
	}
	word := rng.Uint64()
	doublings := uint64(bits.LeadingZeros32(uint32(word >> 32))) // 0..32
	units := doublings<<32 | word&(1<<32-1)                      // k + fraction, 32.32 fixed point
	// mean < 2^47 (24 h) and 2*units < 2^39, so the product's high word is
	// far below the divisor and Div64 cannot overflow.
	high, low := bits.Mul64(mean, 2*units)
	quotient, _ := bits.Div64(high, low, 3<<32)
	return time.Duration(quotient)
}

// transmissionTime is how long a path of the given bandwidth takes to put
// sizeBytes on the wire, rounded up to a whole nanosecond.
func transmissionTime(sizeBytes int, bytesPerSecond int64) time.Duration {
	if bytesPerSecond == 0 || sizeBytes == 0 {
		return 0
	}
	high, low := bits.Mul64(uint64(sizeBytes), uint64(time.Second))
	quotient, remainder := bits.Div64(high, low, uint64(bytesPerSecond))
	if remainder != 0 {
		quotient++
	}
	return time.Duration(quotient)
}

// Options configure a Network: the default behaviour of every path and the
// fault model. DefaultOptions gives a calm network; RandomOptions draws one
// per seed for swarm testing.
type Options struct {
	// Path is the behaviour of every path without an override
	// (Network.SetPathOptions).
	Path PathOptions
	// ConnectTimeout is how long a dial across a partition waits before it
	// fails. Must be positive.
	ConnectTimeout time.Duration
	// ConnectionTimeout is how long a partition may hold data on an
	// established connection before the connection resets. Must be
	// positive.
	ConnectionTimeout time.Duration
	// ResetDetectionDelayMin is the least time an end takes to learn that
	// its connection was reset. Each end draws its own delay uniformly from
	// [ResetDetectionDelayMin, ResetDetectionDelayMax], so the two ends of
	// one connection usually learn at different times.
	ResetDetectionDelayMin time.Duration
	// ResetDetectionDelayMax is the most time an end takes to learn that
	// its connection was reset.
	ResetDetectionDelayMax time.Duration
	// LossProbability is the chance that a message is lost and must be
	// retransmitted, adding RetransmissionDelay (doubling for each repeated
	// loss, at most retransmissionsMax times) to its delivery. Later
	// messages on the connection wait behind it.
	LossProbability Ratio
	// RetransmissionDelay is the first retransmission timeout.
	RetransmissionDelay time.Duration
	// ResetProbability is the chance, per message sent, that the connection
	// resets instead of carrying it.
	ResetProbability Ratio
}

// DefaultOptions returns a calm network: sub-millisecond exponential
// delays, unlimited bandwidth, no loss, no random resets.
func DefaultOptions() Options {
	return Options{
		Path: PathOptions{
			DelayDistribution: DistributionExponential,
			DelayMin:          100 * time.Microsecond,
			DelayMean:         500 * time.Microsecond,
		},
		ConnectTimeout:         3 * time.Second,
		ConnectionTimeout:      10 * time.Second,
		ResetDetectionDelayMin: time.Millisecond,
		ResetDetectionDelayMax: 10 * time.Millisecond,
		RetransmissionDelay:    200 * time.Millisecond,
	}
}

// Validate returns an error describing the first out-of-range field.
func (o Options) Validate() error {
	if err := o.Path.Validate(); err != nil {
		return err
	}
	durations := []struct {
		name         string
		value, least time.Duration
	}{
		{"ConnectTimeout", o.ConnectTimeout, 1},
		{"ConnectionTimeout", o.ConnectionTimeout, 1},
		{"ResetDetectionDelayMin", o.ResetDetectionDelayMin, 0},
		{"ResetDetectionDelayMax", o.ResetDetectionDelayMax, o.ResetDetectionDelayMin},
		{"RetransmissionDelay", o.RetransmissionDelay, 0},
	}
	for _, d := range durations {
		if d.value < d.least || d.value > durationOptionMax {
			return fmt.Errorf("netsim: %s %v is outside [%v, %v]", d.name, d.value, d.least, durationOptionMax)
		}
	}
	if err := o.LossProbability.validate("LossProbability"); err != nil {
		return err
	}
	return o.ResetProbability.validate("ResetProbability")
}

// String describes the options on one line, for traces and failure reports.
func (o Options) String() string {
	return fmt.Sprintf("%v connect_timeout=%v connection_timeout=%v reset_detection=[%v,%v] "+
		"loss=%v retransmission=%v reset=%v",
		o.Path, o.ConnectTimeout, o.ConnectionTimeout, o.ResetDetectionDelayMin, o.ResetDetectionDelayMax,
		o.LossProbability, o.RetransmissionDelay, o.ResetProbability)
}

// RandomOptions draws a network for one seed of a swarm test: roughly a
// third of seeds get a calm network, a third a lossy one and a third a harsh
// one with frequent resets, with delays, bandwidth and timeouts varied
// independently. The result always passes Validate.
func RandomOptions(rng *rand.Rand) Options {
	o := DefaultOptions()
	o.Path.DelayDistribution = Distribution(rng.IntN(int(distributionCount)))
	o.Path.DelayMin = pick(rng, 0, 50*time.Microsecond, 500*time.Microsecond, 2*time.Millisecond)
	o.Path.DelayMean = o.Path.DelayMin +
		pick(rng, 0, 200*time.Microsecond, 2*time.Millisecond, 10*time.Millisecond, 50*time.Millisecond)
	o.Path.ConnectDelay = pick(rng, 0, 100*time.Microsecond, time.Millisecond)
	o.Path.BandwidthBytesPerSecond = pick[int64](rng, 0, 0, 1<<20, 10<<20, 100<<20, 1<<30)
	o.ConnectTimeout = pick(rng, 500*time.Millisecond, 3*time.Second, 10*time.Second)
	o.ConnectionTimeout = pick(rng, time.Second, 5*time.Second, 30*time.Second)
	o.ResetDetectionDelayMin = pick(rng, 0, time.Millisecond, 10*time.Millisecond)
	o.ResetDetectionDelayMax = o.ResetDetectionDelayMin +
		pick(rng, 0, 10*time.Millisecond, 100*time.Millisecond, time.Second)
	o.RetransmissionDelay = pick(rng, 10*time.Millisecond, 200*time.Millisecond, time.Second)
	switch rng.IntN(3) {
	case 0: // calm
	case 1: // lossy
		o.LossProbability = Ratio{1, pick[uint64](rng, 100, 1_000, 10_000)}
		o.ResetProbability = Ratio{1, pick[uint64](rng, 100_000, 1_000_000)}
	case 2: // harsh
		o.LossProbability = Ratio{1, pick[uint64](rng, 10, 30, 100)}
		o.ResetProbability = Ratio{1, pick[uint64](rng, 500, 2_000, 10_000)}
	}
	return o
}

// pick returns one of choices, uniformly.
func pick[T any](rng *rand.Rand, choices ...T) T {
	return choices[rng.IntN(len(choices))]
}
