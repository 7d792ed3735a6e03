// staleack drives two kcp-go 5.6.1 KCP state machines by hand and prints, as one JSON line, how
// often a lost segment is sent again in the two seconds after the sender received an ACK for a
// segment it had already seen acknowledged, echoing the ts of that segment's first transmission
// (the receiver's FEC decoder rebuilt it from parity that came late, as FEC input), and how often
// without that ACK. The same script runs against rxkcp's Kcp in test/interop/stale-ack.interop.ts.
//
// Build in GOPATH mode against the Debian kcp-go sources:
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o staleack .
package main

import (
	"encoding/binary"
	"encoding/json"
	"os"
	"time"

	"github.com/xtaci/kcp-go"
)

const (
	conv     = 0x11223344
	cmdPush  = 81
	overhead = 24
	interval = 10
	// how long after its first transmission the receiver rebuilds sn 0's datagram
	staleAfter = 1500 * time.Millisecond
	// how long the sender's retransmissions of the lost segment are counted
	watch = 2000 * time.Millisecond
)

type capture struct{ datagrams [][]byte }

func (c *capture) output(buf []byte, size int) {
	c.datagrams = append(c.datagrams, append([]byte(nil), buf[:size]...))
}

func (c *capture) take() [][]byte {
	d := c.datagrams
	c.datagrams = nil
	return d
}

// pushes counts the PUSH segments with sequence number sn in the datagrams.
func pushes(datagrams [][]byte, sn uint32) int {
	n := 0
	for _, d := range datagrams {
		for off := 0; off+overhead <= len(d); {
			l := int(binary.LittleEndian.Uint32(d[off+20:]))
			if d[off+4] == cmdPush && binary.LittleEndian.Uint32(d[off+12:]) == sn {
				n++
			}
			off += overhead + l
		}
	}
	return n
}

// run returns how many times the lost segment sn 1 went out again within `watch`.
func run(stale bool) int {
	toReceiver, toSender := &capture{}, &capture{}
	sender := kcp.NewKCP(conv, toReceiver.output)
	receiver := kcp.NewKCP(conv, toSender.output)
	sender.NoDelay(0, interval, 0, 1)
	receiver.NoDelay(0, interval, 0, 1)

	// sn 0 goes through and is acknowledged
	sender.Send([]byte{0})
	sender.Update()
	first := toReceiver.take()
	for _, d := range first {
		receiver.Input(d, true, false)
	}
	receiver.Update()
	for _, d := range toSender.take() {
		sender.Input(d, true, false)
	}

	time.Sleep(staleAfter)
	if stale {
		// the receiver rebuilds sn 0's datagram and acknowledges it again, with its old ts
		for _, d := range first {
			receiver.Input(d, false, false)
		}
		receiver.Update()
		for _, d := range toSender.take() {
			sender.Input(d, true, false)
		}
	}

	// sn 1 goes out and every transmission of it is lost
	sender.Send([]byte{1})
	sender.Update()
	sent := pushes(toReceiver.take(), 1)
	for start := time.Now(); time.Since(start) < watch; {
		time.Sleep(interval * time.Millisecond)
		sender.Update()
		sent += pushes(toReceiver.take(), 1)
	}
	return sent - 1
}

func main() {
	json.NewEncoder(os.Stdout).Encode(map[string]int{
		"retransmitsWithStaleAck": run(true),
		"retransmitsWithout":      run(false),
	})
}
