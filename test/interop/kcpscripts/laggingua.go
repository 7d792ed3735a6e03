package main

// The lagging-una script: what the sender does when the ACK for its last segment carries a una
// below it (the receiver's queue was full) and the receiver's window update is then lost.

import "time"

const (
	// the sender's window: three one-byte messages fill it
	sndWnd = 3
	// the receiver's window: two unread messages fill its queue, the third waits in its buffer
	rcvWnd = 2
	// the script waits longer than an interval between steps, so every Update flushes
	step = 3 * interval * time.Millisecond
)

func laggingUna() interface{} {
	p := newPair()
	p.sender.WndSize(sndWnd, 128)
	p.receiver.WndSize(128, rcvWnd)

	for _, b := range []byte{1, 2, 3} {
		p.sender.Send([]byte{b})
	}
	p.sender.Update()
	first := pushSns(p.toReceiver.datagrams)
	for _, d := range p.toReceiver.take() {
		p.receiver.Input(d, true, false)
	}
	p.receiver.Update() // ACKs for sn 0, 1, 2, each with una 2: the queue is full
	for _, d := range p.toSender.take() {
		p.sender.Input(d, false, false) // rebuilt by FEC: the remote window is not updated
	}
	waitSndAfterAck := p.sender.WaitSnd()

	// the receiver reads everything; its window update (una 3) is lost
	buf := make([]byte, 16)
	read := 0
	for p.receiver.Recv(buf) > 0 {
		read++
	}
	time.Sleep(step)
	p.receiver.Update()
	p.toSender.take()

	// three more writes: how many leave with the next flushes, while the receiver says nothing
	for _, b := range []byte{4, 5, 6} {
		p.sender.Send([]byte{b})
	}
	var later []uint32
	for i := 0; i < 5; i++ {
		time.Sleep(step)
		p.sender.Update()
		later = append(later, pushSns(p.toReceiver.take())...)
	}
	return map[string]interface{}{
		"firstPushes":     first,
		"waitSndAfterAck": waitSndAfterAck,
		"read":            read,
		"laterPushes":     later,
		"waitSndAtEnd":    p.sender.WaitSnd(),
	}
}
