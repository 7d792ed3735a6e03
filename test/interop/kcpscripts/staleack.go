package main

// The stale-ack script: how often a lost segment is sent again in the two seconds after the
// sender received an ACK for a segment it had already seen acknowledged, echoing the ts of that
// segment's first transmission (the receiver's FEC decoder rebuilt it from parity that came late,
// as FEC input), and how often without that ACK. Runs in real time.

import "time"

const (
	// how long after its first transmission the receiver rebuilds sn 0's datagram
	staleAfter = 1500 * time.Millisecond
	// how long the sender's retransmissions of the lost segment are counted
	watch = 2000 * time.Millisecond
)

// count is how many of the sns are sn.
func count(sns []uint32, sn uint32) int {
	n := 0
	for _, s := range sns {
		if s == sn {
			n++
		}
	}
	return n
}

// retransmits returns how many times the lost segment sn 1 went out again within `watch`.
func retransmits(stale bool) int {
	p := newPair()

	// sn 0 goes through and is acknowledged
	p.sender.Send([]byte{0})
	p.sender.Update()
	first := p.toReceiver.take()
	for _, d := range first {
		p.receiver.Input(d, true, false)
	}
	p.receiver.Update()
	for _, d := range p.toSender.take() {
		p.sender.Input(d, true, false)
	}

	time.Sleep(staleAfter)
	if stale {
		// the receiver rebuilds sn 0's datagram and acknowledges it again, with its old ts
		for _, d := range first {
			p.receiver.Input(d, false, false)
		}
		p.receiver.Update()
		for _, d := range p.toSender.take() {
			p.sender.Input(d, true, false)
		}
	}

	// sn 1 goes out and every transmission of it is lost
	p.sender.Send([]byte{1})
	p.sender.Update()
	sent := count(pushSns(p.toReceiver.take()), 1)
	for start := time.Now(); time.Since(start) < watch; {
		time.Sleep(interval * time.Millisecond)
		p.sender.Update()
		sent += count(pushSns(p.toReceiver.take()), 1)
	}
	return sent - 1
}

func staleAck() interface{} {
	return map[string]int{
		"retransmitsWithStaleAck": retransmits(true),
		"retransmitsWithout":      retransmits(false),
	}
}
