package netsim

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

const oneWay = time.Millisecond

// fixedOptions is a network without randomness in its timing, so tests can
// state exact times: 1 ms each way, 5 ms to notice a reset.
func fixedOptions() Options {
	return Options{
		Path:                   PathOptions{DelayDistribution: DistributionFixed, DelayMin: oneWay, DelayMean: oneWay},
		ConnectTimeout:         time.Second,
		ConnectionTimeout:      2 * time.Second,
		ResetDetectionDelayMin: 5 * time.Millisecond,
		ResetDetectionDelayMax: 5 * time.Millisecond,
		RetransmissionDelay:    200 * time.Millisecond,
	}
}

// driver runs a Network in a test, one virtual instant at a time.
type driver struct {
	t       *testing.T
	network *Network
	now     time.Duration
}

func newDriver(t *testing.T, options Options) *driver {
	t.Helper()
	return &driver{t: t, network: New(rand.New(rand.NewPCG(1, 2)), options)}
}

// runUntil pops every event up to until and returns them.
func (d *driver) runUntil(until time.Duration) []Event {
	var events []Event
	for {
		at, ok := d.network.Next()
		if !ok || at > until {
			break
		}
		events = append(events, d.network.Pop())
	}
	d.now = until
	return events
}

// connect dials from a to b and runs until both ends are told.
func (d *driver) connect(a, b NodeID) ConnID {
	d.t.Helper()
	conn := d.network.Dial(d.now, a, b)
	at := d.now + 2*oneWay
	expect(d.t, d.runUntil(at),
		Event{At: at, Kind: EventAccepted, Conn: conn, To: b, From: a},
		Event{At: at, Kind: EventConnected, Conn: conn, To: a, From: b})
	return conn
}

// expect fails unless got matches want, comparing payloads as strings.
func expect(t *testing.T, got []Event, want ...Event) {
	t.Helper()
	describe := func(events []Event) string {
		var b strings.Builder
		for _, e := range events {
			fmt.Fprintf(&b, "\n\t%v %q", e, e.Payload)
		}
		return b.String()
	}
	if describe(got) != describe(want) {
		t.Fatalf("events:%s\nwant:%s", describe(got), describe(want))
	}
}

func deliver(at time.Duration, conn ConnID, to, from NodeID, payload string) Event {
	return Event{At: at, Kind: EventDeliver, Conn: conn, To: to, From: from, Payload: []byte(payload)}
}

func expectPanic(t *testing.T, contains string, f func()) {
	t.Helper()
	defer func() {
		t.Helper()
		r := recover()
		if r == nil || !strings.Contains(fmt.Sprint(r), contains) {
			t.Fatalf("panic %v, want one containing %q", r, contains)
		}
	}()
	f()
}

func TestMessagesArriveInOrderAfterTheDelay(t *testing.T) {
	d := newDriver(t, fixedOptions())
	conn := d.connect(1, 2)
	for _, m := range []string{"a", "b", "c"} {
		d.network.Send(d.now, conn, 1, []byte(m))
	}
	d.network.Send(d.now, conn, 2, []byte("reply"))
	at := d.now + oneWay
	// Each direction delivers its next message only after the previous
	// one, so directions interleave within an instant.
	expect(t, d.runUntil(at),
		deliver(at, conn, 2, 1, "a"), deliver(at, conn, 1, 2, "reply"),
		deliver(at, conn, 2, 1, "b"), deliver(at, conn, 2, 1, "c"))
	if s := d.network.Stats(); s.MessagesDelivered != 4 || s.BytesDelivered != 8 || s.ConnectionsEstablished != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestSymmetricPartitionHoldsUntilHeal(t *testing.T) {
	d := newDriver(t, fixedOptions())
	conn := d.connect(1, 2)
	d.network.Partition(d.now, [][]NodeID{{1}, {2}}, true)
	d.network.Send(d.now, conn, 1, []byte("x1"))
	d.network.Send(d.now, conn, 1, []byte("x2"))
	d.network.Send(d.now, conn, 2, []byte("y"))
	expect(t, d.runUntil(d.now+time.Second))
	d.network.Heal(d.now)
	expect(t, d.runUntil(d.now),
		deliver(d.now, conn, 2, 1, "x1"), deliver(d.now, conn, 1, 2, "y"), deliver(d.now, conn, 2, 1, "x2"))
}

func TestPartitionLongerThanTheConnectionTimeoutResets(t *testing.T) {
	d := newDriver(t, fixedOptions())
	conn := d.connect(1, 2)
	start := d.now
	d.network.Partition(d.now, [][]NodeID{{1}, {2}}, true)
	d.network.Send(d.now, conn, 1, []byte("lost"))
	expect(t, d.runUntil(start+time.Second))
	d.network.Send(d.now, conn, 2, []byte("also lost"))
	// Node 1's data was held for the whole timeout: its TCP gives up and
	// tells it at once; node 2 notices after its detection delay.
	expect(t, d.runUntil(start+3*time.Second),
		Event{At: start + 2*time.Second, Kind: EventReset, Conn: conn, To: 1, From: 2},
		Event{At: start + 2*time.Second + 5*time.Millisecond, Kind: EventReset, Conn: conn, To: 2, From: 1})
	d.network.Heal(d.now)
	d.network.Send(d.now, conn, 1, []byte("after")) // dropped: the connection is over
	expect(t, d.runUntil(d.now+time.Second))
	if s := d.network.Stats(); s.ResetsByTimeout != 1 || s.MessagesDropped != 3 || s.ConnectionsLive != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestIdleConnectionSurvivesAPartition(t *testing.T) {
	d := newDriver(t, fixedOptions())
	conn := d.connect(1, 2)
	d.network.Partition(d.now, [][]NodeID{{1}, {2}}, true)
	expect(t, d.runUntil(d.now+time.Minute))
	d.network.Heal(d.now)
	d.network.Send(d.now, conn, 1, []byte("still here"))
	at := d.now + oneWay
	expect(t, d.runUntil(at), deliver(at, conn, 2, 1, "still here"))
}

func TestAsymmetricPartitionBlocksOnlyTrafficLeavingTheFirstSide(t *testing.T) {
	d := newDriver(t, fixedOptions())
	conn := d.connect(1, 2)
	d.network.Partition(d.now, [][]NodeID{{1}, {2}}, false)
	d.network.Send(d.now, conn, 1, []byte("held"))
	d.network.Send(d.now, conn, 2, []byte("flows"))
	at := d.now + oneWay
	expect(t, d.runUntil(d.now+time.Second), deliver(at, conn, 1, 2, "flows"))
	// Swap the sides: node 1's message is released, node 2's are held.
	d.network.Partition(d.now, [][]NodeID{{2}, {1}}, false)
	d.network.Send(d.now, conn, 2, []byte("held too"))
	at = d.now
	expect(t, d.runUntil(d.now+time.Second), deliver(at, conn, 2, 1, "held"))
	d.network.Heal(d.now)
	expect(t, d.runUntil(d.now), deliver(d.now, conn, 1, 2, "held too"))
	// A handshake needs both directions, so dials fail either way.
	d.network.Partition(d.now, [][]NodeID{{1}, {2}}, false)
	forward := d.network.Dial(d.now, 1, 2)
	backward := d.network.Dial(d.now, 2, 1)
	at = d.now + time.Second
	expect(t, d.runUntil(at),
		Event{At: at, Kind: EventDialFailed, Conn: forward, To: 1, From: 2},
		Event{At: at, Kind: EventDialFailed, Conn: backward, To: 2, From: 1})
}

func TestDialAcrossAPartitionFailsAfterTheConnectTimeout(t *testing.T) {
	d := newDriver(t, fixedOptions())
	d.network.Partition(d.now, [][]NodeID{{1, 3}, {2}}, true)
	across := d.network.Dial(d.now, 1, 2)
	within := d.network.Dial(d.now, 1, 3)
	expect(t, d.runUntil(d.now+time.Second),
		Event{At: 2 * oneWay, Kind: EventAccepted, Conn: within, To: 3, From: 1},
		Event{At: 2 * oneWay, Kind: EventConnected, Conn: within, To: 1, From: 3},
		Event{At: time.Second, Kind: EventDialFailed, Conn: across, To: 1, From: 2})
	// A partition that starts mid-handshake fails the dial too.
	late := d.network.Dial(d.now, 3, 4)
	d.runUntil(d.now + oneWay)
	d.network.Isolate(d.now, 4)
	expect(t, d.runUntil(d.now+2*time.Second),
		Event{At: 2 * time.Second, Kind: EventDialFailed, Conn: late, To: 3, From: 4})
	if s := d.network.Stats(); s.DialsFailed != 2 || s.ConnectionsEstablished != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestIsolateCutsOnlyTheIsolatedNode(t *testing.T) {
	d := newDriver(t, fixedOptions())
	ab := d.connect(1, 2)
	ac := d.connect(1, 3)
	d.network.Isolate(d.now, 3)
	d.network.Send(d.now, ab, 1, []byte("to 2"))
	d.network.Send(d.now, ac, 1, []byte("to 3"))
	at := d.now + oneWay
	expect(t, d.runUntil(d.now+time.Second), deliver(at, ab, 2, 1, "to 2"))
	d.network.Heal(d.now)
	expect(t, d.runUntil(d.now), deliver(d.now, ac, 3, 1, "to 3"))
}

func TestClogHoldsThenReleasesInOrder(t *testing.T) {
	d := newDriver(t, fixedOptions())
	conn := d.connect(1, 2)
	until := d.now + 100*time.Millisecond
	d.network.Clog(d.now, 1, 2, until)
	for _, m := range []string{"a", "b", "c"} {
		d.network.Send(d.now, conn, 1, []byte(m))
	}
	d.network.Send(d.now, conn, 2, []byte("other way"))
	at := d.now + oneWay
	expect(t, d.runUntil(until),
		deliver(at, conn, 1, 2, "other way"),
		deliver(until, conn, 2, 1, "a"), deliver(until, conn, 2, 1, "b"), deliver(until, conn, 2, 1, "c"))
	// A clog applies to new connections too, and lifting it early releases
	// what it holds at once.
	second := d.connect(1, 2)
	d.network.Clog(d.now, 1, 2, d.now+time.Hour)
	d.network.Send(d.now, second, 1, []byte("d"))
	expect(t, d.runUntil(d.now+time.Second))
	d.network.Clog(d.now, 1, 2, d.now)
	expect(t, d.runUntil(d.now), deliver(d.now, second, 2, 1, "d"))
}

func TestRandomResetTellsBothEnds(t *testing.T) {
	options := fixedOptions()
	options.ResetProbability = Ratio{1, 1}
	options.ResetDetectionDelayMin, options.ResetDetectionDelayMax = time.Millisecond, 50*time.Millisecond
	asymmetric := false
	for seed := uint64(0); seed < 20; seed++ {
		d := &driver{t: t, network: New(rand.New(rand.NewPCG(seed, 0)), options)}
		conn := d.connect(1, 2)
		sent := d.now
		d.network.Send(d.now, conn, 1, []byte("never arrives"))
		d.network.Send(d.now, conn, 2, []byte("dropped: the connection is already broken"))
		events := d.runUntil(d.now + time.Second)
		if len(events) != 2 {
			t.Fatalf("seed %d: events %v, want two resets", seed, events)
		}
		told := map[NodeID]bool{}
		for _, e := range events {
			if e.Kind != EventReset || e.At < sent+time.Millisecond || e.At > sent+50*time.Millisecond {
				t.Fatalf("seed %d: event %v, want a reset 1–50 ms after %v", seed, e, sent)
			}
			told[e.To] = true
		}
		if !told[1] || !told[2] {
			t.Fatalf("seed %d: events %v, want one reset to each end", seed, events)
		}
		asymmetric = asymmetric || events[0].At != events[1].At
		if s := d.network.Stats(); s.Resets != 1 || s.ResetsRandom != 1 || s.MessagesDropped != 2 {
			t.Fatalf("seed %d: stats %+v", seed, s)
		}
	}
	if !asymmetric {
		t.Fatal("both ends always noticed the reset at the same instant")
	}
}

func TestBandwidthDelaysLargeMessages(t *testing.T) {
	options := fixedOptions()
	options.Path.BandwidthBytesPerSecond = 1 << 20
	small, large := make([]byte, 100), make([]byte, 1<<20)
	smallArrival := oneWay + transmissionTime(len(small), 1<<20)
	largeArrival := oneWay + time.Second
	if smallArrival >= 2*oneWay {
		t.Fatalf("100 B takes %v at 1 MiB/s", smallArrival-oneWay)
	}

	// Two idle paths: the small message arrives first.
	d := newDriver(t, options)
	toSmall, toLarge := d.connect(1, 2), d.connect(1, 3)
	start := d.now
	d.network.Send(d.now, toLarge, 1, large)
	d.network.Send(d.now, toSmall, 1, small)
	events := d.runUntil(d.now + 2*time.Second)
	if len(events) != 2 || events[0].Conn != toSmall || events[0].At != start+smallArrival ||
		events[1].Conn != toLarge || events[1].At != start+largeArrival {
		t.Fatalf("events %v, want 100 B at %v then 1 MiB at %v", events, start+smallArrival, start+largeArrival)
	}

	// One path: a small message queues behind a large one, even on another
	// connection.
	d = newDriver(t, options)
	first, second := d.connect(1, 2), d.connect(1, 2)
	start = d.now
	d.network.Send(d.now, first, 1, large)
	d.network.Send(d.now, second, 1, small)
	events = d.runUntil(d.now + 2*time.Second)
	if len(events) != 2 || events[0].Conn != first || events[1].Conn != second ||
		events[1].At != start+largeArrival+smallArrival-oneWay {
		t.Fatalf("events %v, want the small message after the large one", events)
	}
}

func TestSetDownResetsPeersAndRefusesDials(t *testing.T) {
	d := newDriver(t, fixedOptions())
	conn := d.connect(1, 2)
	d.network.Send(d.now, conn, 1, []byte("in flight"))
	d.network.SetDown(d.now, 2, true)
	// Node 2 hears nothing more; node 1 notices after its detection delay.
	crash := d.now
	expect(t, d.runUntil(d.now+time.Second),
		Event{At: crash + 5*time.Millisecond, Kind: EventReset, Conn: conn, To: 1, From: 2})
	refused := d.network.Dial(d.now, 1, 2)
	dialed := d.now
	expect(t, d.runUntil(d.now+time.Second),
		Event{At: dialed + 2*oneWay, Kind: EventDialFailed, Conn: refused, To: 1, From: 2})
	expectPanic(t, "down", func() { d.network.Send(d.now, conn, 2, []byte("ghost")) })
	expectPanic(t, "down", func() { d.network.Dial(d.now, 2, 1) })
	d.network.SetDown(d.now, 2, false)
	d.connect(1, 2)
	if s := d.network.Stats(); s.ResetsByCrash != 1 || s.MessagesDropped != 1 || s.DialsFailed != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestSetDownDuringTheHandshake(t *testing.T) {
	d := newDriver(t, fixedOptions())
	toCrashed := d.network.Dial(d.now, 1, 2)
	d.network.Dial(d.now, 3, 4) // the dialer crashes: nobody hears of it
	d.runUntil(oneWay)
	d.network.SetDown(d.now, 2, true)
	d.network.SetDown(d.now, 3, true)
	expect(t, d.runUntil(time.Second),
		Event{At: 2 * oneWay, Kind: EventDialFailed, Conn: toCrashed, To: 1, From: 2})
	if s := d.network.Stats(); s.ConnectionsLive != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestCloseDeliversWhatWasSentFirst(t *testing.T) {
	d := newDriver(t, fixedOptions())
	conn := d.connect(1, 2)
	d.network.Send(d.now, conn, 2, []byte("discarded: node 1 stops reading"))
	d.network.Send(d.now, conn, 1, []byte("m1"))
	d.network.Send(d.now, conn, 1, []byte("m2"))
	d.network.Close(d.now, conn, 1)
	d.network.Close(d.now, conn, 1) // closing twice does nothing
	at := d.now + oneWay
	expect(t, d.runUntil(at),
		deliver(at, conn, 2, 1, "m1"), deliver(at, conn, 2, 1, "m2"),
		Event{At: at, Kind: EventClosed, Conn: conn, To: 2, From: 1})
	d.network.Send(d.now, conn, 2, []byte("too late"))
	d.network.Close(d.now, conn, 2)
	expect(t, d.runUntil(d.now+time.Second))
	if s := d.network.Stats(); s.Closes != 1 || s.MessagesDropped != 2 || s.ConnectionsLive != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestClosingAPendingDialAbandonsIt(t *testing.T) {
	d := newDriver(t, fixedOptions())
	conn := d.network.Dial(d.now, 1, 2)
	d.network.Close(d.now, conn, 1)
	expect(t, d.runUntil(time.Second))
	if s := d.network.Stats(); s.DialsAbandoned != 1 || s.ConnectionsLive != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestLossIsLatencyNotLoss(t *testing.T) {
	options := fixedOptions()
	options.LossProbability = Ratio{1, 1}
	d := newDriver(t, options)
	conn := d.connect(1, 2)
	d.network.Send(d.now, conn, 1, []byte("slow"))
	d.network.Send(d.now, conn, 1, []byte("behind it"))
	// Every attempt is lost until the bound: 200 ms doubling six times.
	at := d.now + oneWay + 200*time.Millisecond*(1+2+4+8+16+32)
	expect(t, d.runUntil(d.now+time.Minute),
		deliver(at, conn, 2, 1, "slow"), deliver(at, conn, 2, 1, "behind it"))
	if s := d.network.Stats(); s.Retransmissions != 2*retransmissionsMax || s.Resets != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestCalmStopsLossAndResets(t *testing.T) {
	options := fixedOptions()
	options.LossProbability = Ratio{1, 1}
	options.ResetProbability = Ratio{1, 2}
	d := newDriver(t, options)
	d.network.Calm()
	conn := d.connect(1, 2)
	d.network.Send(d.now, conn, 1, []byte("on time"))
	at := d.now + oneWay
	expect(t, d.runUntil(d.now+time.Minute), deliver(at, conn, 2, 1, "on time"))
	if s := d.network.Stats(); s.Retransmissions != 0 || s.Resets != 0 {
		t.Fatalf("stats %+v after Calm", s)
	}
}

func TestMisuseIsCaught(t *testing.T) {
	d := newDriver(t, fixedOptions())
	conn := d.network.Dial(d.now, 1, 2)
	expectPanic(t, "before being told", func() { d.network.Send(d.now, conn, 1, nil) })
	expectPanic(t, "before being told", func() { d.network.Close(d.now, conn, 2) })
	expectPanic(t, "not an endpoint", func() { d.network.Send(d.now, conn, 3, nil) })
	expectPanic(t, "unknown connection", func() { d.network.Send(d.now, conn+1, 1, nil) })
	expectPanic(t, "itself", func() { d.network.Dial(d.now, 1, 1) })
	expectPanic(t, "pending", func() { d.network.Heal(time.Second) })
	d.runUntil(time.Second)
	expectPanic(t, "already at", func() { d.network.Heal(time.Millisecond) })
	expectPanic(t, "partition sides", func() { d.network.Partition(d.now, [][]NodeID{{1}, {1, 2}}, true) })
	expectPanic(t, "no pending event", func() { d.network.Pop() })
}

func TestOptionsValidate(t *testing.T) {
	if err := DefaultOptions().Validate(); err != nil {
		t.Fatal(err)
	}
	bad := map[string]func(*Options){
		"min above mean":     func(o *Options) { o.Path.DelayMin = o.Path.DelayMean + 1 },
		"negative min":       func(o *Options) { o.Path.DelayMin = -1 },
		"unknown shape":      func(o *Options) { o.Path.DelayDistribution = distributionCount },
		"huge delay":         func(o *Options) { o.Path.DelayMean = 25 * time.Hour },
		"negative bandwidth": func(o *Options) { o.Path.BandwidthBytesPerSecond = -1 },
		"zero timeout":       func(o *Options) { o.ConnectionTimeout = 0 },
		"detection backward": func(o *Options) { o.ResetDetectionDelayMax = o.ResetDetectionDelayMin - 1 },
		"loss above one":     func(o *Options) { o.LossProbability = Ratio{3, 2} },
		"reset over zero":    func(o *Options) { o.ResetProbability = Ratio{1, 0} },
	}
	for name, change := range bad {
		o := DefaultOptions()
		change(&o)
		if o.Validate() == nil {
			t.Errorf("%s: Validate accepted %v", name, o)
		}
	}
	expectPanic(t, "ConnectTimeout", func() { New(rand.New(rand.NewPCG(1, 1)), Options{}) })
}

func TestRandomOptionsVaryAndValidate(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	shapes, calm, harsh, limited := map[Distribution]bool{}, 0, 0, 0
	for range 1000 {
		o := RandomOptions(rng)
		if err := o.Validate(); err != nil {
			t.Fatalf("%v: %v", o, err)
		}
		shapes[o.Path.DelayDistribution] = true
		switch {
		case o.ResetProbability.Numerator == 0:
			calm++
		case o.ResetProbability.Denominator <= 10_000:
			harsh++
		}
		if o.Path.BandwidthBytesPerSecond > 0 {
			limited++
		}
	}
	if len(shapes) != int(distributionCount) || calm < 200 || harsh < 200 || limited < 200 {
		t.Fatalf("shapes %v, calm %d, harsh %d, bandwidth-limited %d of 1000", shapes, calm, harsh, limited)
	}
	s := DefaultOptions().String()
	for _, want := range []string{"delay=exponential(min=100µs,mean=500µs)", "bandwidth=unlimited", "loss=0", "reset=0"} {
		if !strings.Contains(s, want) {
			t.Fatalf("%q lacks %q", s, want)
		}
	}
}

func TestDelayDistributionsHaveTheirMean(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	for shape := range distributionCount {
		p := PathOptions{DelayDistribution: shape, DelayMin: time.Millisecond, DelayMean: 5 * time.Millisecond}
		const draws = 200_000
		var total, largest time.Duration
		for range draws {
			delay := p.drawDelay(rng)
			if delay < p.DelayMin {
				t.Fatalf("%v: delay %v below the minimum", shape, delay)
			}
			total += delay
			largest = max(largest, delay)
		}
		mean := total / draws
		if mean < 4900*time.Microsecond || mean > 5100*time.Microsecond {
			t.Errorf("%v: mean %v, want 5ms ± 2%%", shape, mean)
		}
		if largest > p.DelayMin+22*(p.DelayMean-p.DelayMin) {
			t.Errorf("%v: largest delay %v is beyond the cap", shape, largest)
		}
		if shape == DistributionExponential && largest < 5*p.DelayMean {
			t.Errorf("exponential: largest delay %v has no tail", largest)
		}
	}
}

func TestTransmissionTimeRoundsUp(t *testing.T) {
	cases := []struct {
		sizeBytes      int
		bytesPerSecond int64
		want           time.Duration
	}{
		{1 << 20, 1 << 20, time.Second},
		{1, 3, 333_333_334},
		{100, 0, 0},
		{0, 10, 0},
		{1 << 30, 1, 1 << 30 * time.Second},
	}
	for _, c := range cases {
		if got := transmissionTime(c.sizeBytes, c.bytesPerSecond); got != c.want {
			t.Errorf("transmissionTime(%d, %d) = %v, want %v", c.sizeBytes, c.bytesPerSecond, got, c.want)
		}
	}
}

func TestSendAndDeliverDoNotAllocate(t *testing.T) {
	d := newDriver(t, DefaultOptions())
	conn := d.network.Dial(0, 1, 2)
	d.runUntil(time.Second)
	payload := make([]byte, 100)
	allocations := testing.AllocsPerRun(10_000, func() {
		d.network.Send(d.now, conn, 1, payload)
		d.network.Send(d.now, conn, 2, payload)
		for range 2 {
			at, _ := d.network.Next()
			d.now = at
			d.network.Pop()
		}
	})
	if allocations != 0 {
		t.Fatalf("%v allocations per round trip", allocations)
	}
}

func TestCancelledEntriesAreBounded(t *testing.T) {
	d := newDriver(t, fixedOptions())
	conn := d.connect(1, 2)
	d.network.Send(d.now, conn, 1, []byte("held"))
	for i := range 100_000 {
		d.network.Clog(d.now, 1, 2, d.now+time.Hour+time.Duration(i))
	}
	if size := len(d.network.events); size > 2*staleEntriesCompactMin+1 {
		t.Fatalf("heap holds %d entries for one message", size)
	}
	// The message was ready 1 ms after it was sent; the clog only held it.
	d.network.Clog(d.now, 1, 2, d.now)
	expect(t, d.runUntil(d.now+oneWay), deliver(d.now, conn, 2, 1, "held"))
}

func TestDirectionQueueIsBounded(t *testing.T) {
	var d direction
	for i := range 10_000 {
		d.queue = append(d.queue, message{readyAt: time.Duration(i)})
		if i%2 == 1 {
			d.popFront()
		}
	}
	if live := len(d.queue) - d.queueHead; live != 5_000 || len(d.queue) > 2*live+queueCompactMin {
		t.Fatalf("queue holds %d slots for %d messages", len(d.queue), live)
	}
	if d.head().readyAt != 5_000 {
		t.Fatalf("head is message %d, want 5000", d.head().readyAt)
	}
}

func BenchmarkSendAndDeliver(b *testing.B) {
	network := New(rand.New(rand.NewPCG(1, 2)), DefaultOptions())
	conn := network.Dial(0, 1, 2)
	for range 2 {
		network.Pop()
	}
	payload := make([]byte, 1000)
	now := time.Second
	b.ReportAllocs()
	for b.Loop() {
		network.Send(now, conn, 1, payload)
		now = network.Pop().At
	}
}

func TestCutHoldsOneDirectionUntilMendAndOutlivesHeal(t *testing.T) {
	d := newDriver(t, fixedOptions())
	conn := d.connect(1, 2)
	d.network.Cut(d.now, 1, 2)
	d.network.Send(d.now, conn, 1, []byte("held"))
	d.network.Send(d.now, conn, 2, []byte("flows"))
	at := d.now + oneWay
	expect(t, d.runUntil(d.now+100*time.Millisecond), deliver(at, conn, 1, 2, "flows"))
	// A partition healed elsewhere does not lift the cut.
	d.network.Partition(d.now, [][]NodeID{{3}, {4}}, true)
	d.network.Heal(d.now)
	expect(t, d.runUntil(d.now+100*time.Millisecond))
	// Dials between the two fail either way while the cut lasts.
	back := d.network.Dial(d.now, 2, 1)
	dialAt := d.now
	expect(t, d.runUntil(d.now+time.Second),
		Event{At: dialAt + time.Second, Kind: EventDialFailed, Conn: back, To: 2, From: 1})
	d.network.Mend(d.now, 1, 2)
	expect(t, d.runUntil(d.now), deliver(d.now, conn, 2, 1, "held"))
}

func TestSendHeldArrivesLateWithWhatFollowsItBehind(t *testing.T) {
	d := newDriver(t, fixedOptions())
	held := d.connect(1, 2)
	other := d.connect(1, 2)
	start := d.now
	d.network.SendHeld(d.now, held, 1, []byte("old request"), 500*time.Millisecond)
	d.network.Send(d.now, held, 1, []byte("behind it"))
	d.network.Close(d.now, held, 1)
	d.network.Send(d.now, other, 1, []byte("newer request"))
	late := start + oneWay + 500*time.Millisecond
	expect(t, d.runUntil(late),
		deliver(start+oneWay, other, 2, 1, "newer request"),
		deliver(late, held, 2, 1, "old request"), deliver(late, held, 2, 1, "behind it"),
		Event{At: late, Kind: EventClosed, Conn: held, To: 2, From: 1})
	expectPanic(t, "negative hold", func() { d.network.SendHeld(d.now, other, 1, nil, -1) })
}
