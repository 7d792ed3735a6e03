// Command flooder sends forged KCP datagrams to one UDP address as fast as one core lets it, for
// bench/flood.ts: a PUSH segment with sn 1..127 and una 0 (what a fresh peer sends after its sn-0
// datagram was lost) in kcp-go's 'none' framing (16-byte nonce, CRC-32 of the body, no cipher),
// from many source ports in turn, each with its own conv. It prints {"flooding":true} when it
// starts and {"sent":N,"pps":R} when it stops.
//
//	flooder -to 127.0.0.1:29900 -ports 8192 -seconds 20
package main

import (
	"encoding/binary"
	"flag"
	"fmt"
	"hash/crc32"
	"math/rand"
	"net"
	"os"
	"runtime"
	"time"
)

// datagram builds one forged first-flight datagram: nonce, CRC, then a 24-byte KCP header and 16 bytes.
func datagram(conv, sn uint32) []byte {
	const nonce, crc, kcpHeader, payload = 16, 4, 24, 16
	b := make([]byte, nonce+crc+kcpHeader+payload)
	rand.Read(b[:nonce])
	k := b[nonce+crc:]
	binary.LittleEndian.PutUint32(k[0:], conv)
	k[4] = 81 // IKCP_CMD_PUSH
	k[5] = 0  // frg
	binary.LittleEndian.PutUint16(k[6:], 128)
	binary.LittleEndian.PutUint32(k[8:], 0)  // ts
	binary.LittleEndian.PutUint32(k[12:], sn) // sn
	binary.LittleEndian.PutUint32(k[16:], 0)  // una
	binary.LittleEndian.PutUint32(k[20:], payload)
	binary.LittleEndian.PutUint32(b[nonce:], crc32.ChecksumIEEE(k))
	return b
}

func main() {
	to := flag.String("to", "", "HOST:PORT to flood")
	ports := flag.Int("ports", 8192, "source ports to send from, in turn")
	seconds := flag.Float64("seconds", 20, "how long to flood")
	flag.Parse()
	runtime.GOMAXPROCS(1) // one core
	dst, err := net.ResolveUDPAddr("udp4", *to)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	conns := make([]*net.UDPConn, *ports)
	pkts := make([][]byte, *ports)
	for i := range conns {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		conns[i] = c
		pkts[i] = datagram(uint32(0x20000+i), uint32(1+i%127))
	}
	fmt.Println(`{"flooding":true}`)
	sent := 0
	end := time.Now().Add(time.Duration(*seconds * float64(time.Second)))
	for i := 0; ; i++ {
		if i%1024 == 0 && time.Now().After(end) {
			break
		}
		k := i % *ports
		if _, err := conns[k].WriteToUDP(pkts[k], dst); err == nil {
			sent++
		}
	}
	fmt.Printf("{\"sent\":%d,\"pps\":%d}\n", sent, int(float64(sent)/(*seconds)))
}
