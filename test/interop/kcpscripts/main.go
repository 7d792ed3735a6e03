// kcpscripts drives two kcp-go 5.6.1 KCP state machines by hand through one of the scripts below
// and prints what happened as one JSON line. The same scripts run against rxkcp's Kcp in the
// interop test named beside each:
//
//	stale-ack    an ACK of a segment already acknowledged, echoing a transmission 1.5 s old
//	             (staleack.go; test/interop/stale-ack.interop.ts)
//	lagging-una  an ACK with a lagging una for the last segment, then silence
//	             (laggingua.go; test/interop/lagging-una.interop.ts)
//
// Build in GOPATH mode against the Debian kcp-go sources, then run with the script's name:
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o kcpscripts .
//	./kcpscripts stale-ack
package main

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"

	"github.com/xtaci/kcp-go"
)

const (
	conv = 0x11223344
	// kcp-go's IKCP_CMD_PUSH and the segment header size
	cmdPush  = 81
	overhead = 24
	// the flush interval of both state machines (ms); kcp-go's Update flushes at most once per interval
	interval = 10
)

// capture collects the datagrams a KCP writes.
type capture struct{ datagrams [][]byte }

func (c *capture) output(buf []byte, size int) {
	c.datagrams = append(c.datagrams, append([]byte(nil), buf[:size]...))
}

func (c *capture) take() [][]byte {
	d := c.datagrams
	c.datagrams = nil
	return d
}

// pair is a sender and a receiver whose datagrams are captured, not delivered: each script
// carries them across itself.
type pair struct {
	sender, receiver     *kcp.KCP
	toReceiver, toSender *capture
}

// newPair makes the two state machines, both with NoDelay(0, interval, 0, 1).
func newPair() *pair {
	p := &pair{toReceiver: &capture{}, toSender: &capture{}}
	p.sender = kcp.NewKCP(conv, p.toReceiver.output)
	p.receiver = kcp.NewKCP(conv, p.toSender.output)
	p.sender.NoDelay(0, interval, 0, 1)
	p.receiver.NoDelay(0, interval, 0, 1)
	return p
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

var scripts = map[string]func() interface{}{
	"stale-ack":   staleAck,
	"lagging-una": laggingUna,
}

func main() {
	if len(os.Args) != 2 || scripts[os.Args[1]] == nil {
		fmt.Fprintln(os.Stderr, "usage: kcpscripts stale-ack|lagging-una")
		os.Exit(2)
	}
	if err := json.NewEncoder(os.Stdout).Encode(scripts[os.Args[1]]()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
