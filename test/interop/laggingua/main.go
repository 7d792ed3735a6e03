// laggingua drives two kcp-go 5.6.1 KCP state machines by hand through one script and prints, as
// one JSON line, what the sender does when the ACK for its last segment carries a una below it
// (the receiver's queue was full) and the receiver's window update is then lost. The same script
// runs against rxkcp's Kcp in test/interop/lagging-una.interop.ts.
//
// Build in GOPATH mode against the Debian kcp-go sources:
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o laggingua .
package main

import (
	"encoding/binary"
	"encoding/json"
	"os"
	"time"

	"github.com/xtaci/kcp-go"
)

const (
	conv = 0x11223344
	// kcp-go's IKCP_CMD_PUSH and the segment header size
	cmdPush  = 81
	overhead = 24
	// the sender's window: three one-byte messages fill it
	sndWnd = 3
	// the receiver's window: two unread messages fill its queue, the third waits in its buffer
	rcvWnd = 2
	// kcp-go's Update flushes at most once per interval; the script waits longer between steps
	interval = 10
	step     = 3 * interval * time.Millisecond
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

// pushSns lists the sn of every PUSH segment in the datagrams.
func pushSns(datagrams [][]byte) []uint32 {
	sns := []uint32{}
	for _, d := range datagrams {
		for off := 0; off+overhead <= len(d); {
			n := int(binary.LittleEndian.Uint32(d[off+20:]))
			if d[off+4] == cmdPush {
				sns = append(sns, binary.LittleEndian.Uint32(d[off+12:]))
			}
			off += overhead + n
		}
	}
	return sns
}

func main() {
	toReceiver, toSender := &capture{}, &capture{}
	sender := kcp.NewKCP(conv, toReceiver.output)
	receiver := kcp.NewKCP(conv, toSender.output)
	sender.NoDelay(0, interval, 0, 1)
	receiver.NoDelay(0, interval, 0, 1)
	sender.WndSize(sndWnd, 128)
	receiver.WndSize(128, rcvWnd)

	for _, b := range []byte{1, 2, 3} {
		sender.Send([]byte{b})
	}
	sender.Update()
	first := pushSns(toReceiver.datagrams)
	for _, d := range toReceiver.take() {
		receiver.Input(d, true, false)
	}
	receiver.Update() // ACKs for sn 0, 1, 2, each with una 2: the queue is full
	for _, d := range toSender.take() {
		sender.Input(d, false, false) // rebuilt by FEC: the remote window is not updated
	}
	waitSndAfterAck := sender.WaitSnd()

	// the receiver reads everything; its window update (una 3) is lost
	buf := make([]byte, 16)
	read := 0
	for receiver.Recv(buf) > 0 {
		read++
	}
	time.Sleep(step)
	receiver.Update()
	toSender.take()

	// three more writes: how many leave with the next flushes, while the receiver says nothing
	for _, b := range []byte{4, 5, 6} {
		sender.Send([]byte{b})
	}
	var later []uint32
	for i := 0; i < 5; i++ {
		time.Sleep(step)
		sender.Update()
		later = append(later, pushSns(toReceiver.take())...)
	}
	json.NewEncoder(os.Stdout).Encode(map[string]interface{}{
		"firstPushes":     first,
		"waitSndAfterAck": waitSndAfterAck,
		"read":            read,
		"laterPushes":     later,
		"waitSndAtEnd":    sender.WaitSnd(),
	})
}
