// Command kcpreplay runs kcp-go's own KCP state machine through a script of timed calls under a
// virtual clock and prints what it does: every datagram its output callback is handed, what each
// call returns, every message it delivers.
//
// It is built only by the test harness (test/interop/kcp-replay-go.ts), in a temporary GOPATH
// directory that also holds copies of Debian's kcp-go 5.6.1 kcp.go and snmp.go, moved into
// package main, with kcp.go's currentMs (milliseconds since the process started) removed: kcp-go
// reads the clock inside Input and flush, and the copy reads currentMs below instead. Nothing of
// kcp-go is kept in this repository.
//
// Script (stdin), one JSON object per line, times in ms, never decreasing:
//
//	{"op":"config","conv":1,"mtu":1400,"snd":32,"rcv":32,"nodelay":0,"interval":100,"resend":0,"nc":0,"stream":false,"ackNoDelay":false}
//	{"t":0,"op":"send","len":3000,"seed":7}    Send of len pattern bytes (see pattern)
//	{"t":5,"op":"input","hex":"...","fec":false} Input(datagram, regular = !fec, ackNoDelay)
//	{"t":10,"op":"flush"}                        flush(false), what the session's update does
//	{"t":10,"op":"recv"}                         Recv until nothing is left
//	{"t":10,"op":"wnd","snd":64,"rcv":64}        WndSize
//	{"t":10,"op":"nodelay","nodelay":1,"interval":20,"resend":2,"nc":1} NoDelay
//	{"t":10,"op":"mtu","mtu":1200}               SetMtu
//
// Output (stdout), one line per observation, in order:
//
//	T out HEX         a datagram (as the output callback got it)
//	T flush N         what flush returned
//	T send N / T input N / T mtu N   what the call returned
//	T recv LEN SHA    a delivered message: its length and the first 8 bytes of its SHA-256, in hex
package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"sync"
)

// virtualNow is the clock the copied kcp.go reads.
var virtualNow uint32

func currentMs() uint32 { return virtualNow }

// replayFastAckDue is set by the "5.6.1+later" build's parse_fastack when a segment reached the
// fast-resend count during an Input (unused by the unmodified copy).
var replayFastAckDue bool

// xmitBuf is the segment buffer pool kcp.go takes from (sess.go defines it in kcp-go): buffers of
// kcp-go's mtuLimit, 1500 bytes.
var xmitBuf = sync.Pool{New: func() interface{} { return make([]byte, 1500) }}

type step struct {
	T          uint32 `json:"t"`
	Op         string `json:"op"`
	Conv       uint32 `json:"conv"`
	Mtu        int    `json:"mtu"`
	Snd        int    `json:"snd"`
	Rcv        int    `json:"rcv"`
	Nodelay    int    `json:"nodelay"`
	Interval   int    `json:"interval"`
	Resend     int    `json:"resend"`
	Nc         int    `json:"nc"`
	Stream     bool   `json:"stream"`
	AckNoDelay bool   `json:"ackNoDelay"`
	Len        int    `json:"len"`
	Seed       int    `json:"seed"`
	Hex        string `json:"hex"`
	Fec        bool   `json:"fec"`
}

// pattern is the payload of a scripted send: byte i of a send with seed s (the TypeScript side
// builds the same bytes).
func pattern(n, seed int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(seed*131 + i*7 + i>>8)
	}
	return b
}

func main() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<24)
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	fail := func(format string, a ...interface{}) {
		out.Flush()
		fmt.Fprintf(os.Stderr, "kcpreplay: "+format+"\n", a...)
		os.Exit(2)
	}

	var kcp *KCP
	var ackNoDelay bool
	line := 0
	for in.Scan() {
		line++
		var s step
		if err := json.Unmarshal(in.Bytes(), &s); err != nil {
			fail("line %d: %v", line, err)
		}
		if s.Op == "config" {
			kcp = NewKCP(s.Conv, func(buf []byte, size int) {
				fmt.Fprintf(out, "%d out %s\n", virtualNow, hex.EncodeToString(buf[:size]))
			})
			if kcp.SetMtu(s.Mtu) != 0 {
				fail("line %d: SetMtu(%d) refused", line, s.Mtu)
			}
			kcp.WndSize(s.Snd, s.Rcv)
			kcp.NoDelay(s.Nodelay, s.Interval, s.Resend, s.Nc)
			if s.Stream {
				kcp.stream = 1
			}
			ackNoDelay = s.AckNoDelay
			continue
		}
		if kcp == nil {
			fail("line %d: no config line first", line)
		}
		if int32(s.T-virtualNow) < 0 {
			fail("line %d: time goes back (%d after %d)", line, s.T, virtualNow)
		}
		virtualNow = s.T
		switch s.Op {
		case "send":
			fmt.Fprintf(out, "%d send %d\n", s.T, kcp.Send(pattern(s.Len, s.Seed)))
		case "input":
			data, err := hex.DecodeString(s.Hex)
			if err != nil {
				fail("line %d: %v", line, err)
			}
			fmt.Fprintf(out, "%d input %d\n", s.T, kcp.Input(data, !s.Fec, ackNoDelay))
		case "flush":
			fmt.Fprintf(out, "%d flush %d\n", s.T, kcp.flush(false))
		case "recv":
			buf := make([]byte, 256*1500)
			for {
				n := kcp.Recv(buf)
				if n < 0 {
					break
				}
				sum := sha256.Sum256(buf[:n])
				fmt.Fprintf(out, "%d recv %d %s\n", s.T, n, hex.EncodeToString(sum[:8]))
			}
		case "wnd":
			kcp.WndSize(s.Snd, s.Rcv)
		case "nodelay":
			kcp.NoDelay(s.Nodelay, s.Interval, s.Resend, s.Nc)
		case "mtu":
			fmt.Fprintf(out, "%d mtu %d\n", s.T, kcp.SetMtu(s.Mtu))
		default:
			fail("line %d: unknown op %q", line, s.Op)
		}
	}
	if err := in.Err(); err != nil {
		fail("%v", err)
	}
}
