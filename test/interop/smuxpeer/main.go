// smuxpeer: Debian's github.com/xtaci/smux (1.5.16) over one TCP connection, for rxkcp's smux
// interop test (test/interop/smux.interop.ts). Built at test time in GOPATH mode against
// /usr/share/gocode, like kcppeer.
//
//	smuxpeer -role server -version 2 -streambuf 65536
//	    listens on 127.0.0.1:0, prints "port N", takes one connection and echoes every stream the
//	    peer opens (until the peer's FIN), then closes the stream
//	smuxpeer -role client -version 2 -streambuf 65536 -connect 127.0.0.1:N -streams 8 -bytes 2097152
//	    opens the streams, writes a pattern on each, reads the echo back and checks it, then
//	    prints one line "ok STREAMS BYTES" or "error ..." and exits
//
// The pattern is byte(i*7+i/251) for the i-th byte of a stream, from offset 0.
package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/xtaci/smux"
)

func pattern(i int) byte { return byte(i*7 + i/251) }

func config(version, streambuf, framesize int) *smux.Config {
	c := smux.DefaultConfig()
	c.Version = version
	c.MaxStreamBuffer = streambuf
	c.MaxFrameSize = framesize
	c.KeepAliveInterval = 2 * time.Second
	c.KeepAliveTimeout = 20 * time.Second
	if err := smux.VerifyConfig(c); err != nil {
		fmt.Println("error", err)
		os.Exit(2)
	}
	return c
}

func main() {
	role := flag.String("role", "server", "server or client")
	version := flag.Int("version", 2, "smux version")
	streambuf := flag.Int("streambuf", 65536, "smux MaxStreamBuffer")
	framesize := flag.Int("framesize", 32768, "smux MaxFrameSize")
	connect := flag.String("connect", "", "client: HOST:PORT")
	streams := flag.Int("streams", 8, "client: streams to open")
	size := flag.Int("bytes", 1<<20, "client: bytes per stream")
	flag.Parse()
	cfg := config(*version, *streambuf, *framesize)

	if *role == "server" {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		fmt.Println("port", ln.Addr().(*net.TCPAddr).Port)
		conn, err := ln.Accept()
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		sess, err := smux.Server(conn, cfg)
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		for {
			st, err := sess.AcceptStream()
			if err != nil {
				fmt.Println("done", err)
				return
			}
			go func(st *smux.Stream) {
				io.Copy(st, st)
				st.Close()
			}(st)
		}
	}

	conn, err := net.Dial("tcp", *connect)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	sess, err := smux.Client(conn, cfg)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	var wg sync.WaitGroup
	errs := make(chan error, *streams)
	for s := 0; s < *streams; s++ {
		st, err := sess.OpenStream()
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		wg.Add(2)
		go func() {
			defer wg.Done()
			buf := make([]byte, 10000)
			for o := 0; o < *size; {
				n := len(buf)
				if *size-o < n {
					n = *size - o
				}
				for i := 0; i < n; i++ {
					buf[i] = pattern(o + i)
				}
				if _, err := st.Write(buf[:n]); err != nil {
					errs <- err
					return
				}
				o += n
			}
		}()
		go func(st *smux.Stream) {
			defer wg.Done()
			buf := make([]byte, 65536)
			for o := 0; o < *size; {
				n, err := st.Read(buf)
				for i := 0; i < n; i++ {
					if buf[i] != pattern(o+i) {
						errs <- fmt.Errorf("stream %d: byte %d differs", st.ID(), o+i)
						return
					}
				}
				o += n
				if err != nil && o < *size {
					errs <- fmt.Errorf("stream %d: %v after %d bytes", st.ID(), err, o)
					return
				}
			}
			st.Close()
		}(st)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		fmt.Println("error", err)
		os.Exit(1)
	}
	fmt.Println("ok", *streams, *size)
	sess.Close()
}
