// Command capture records what kcptun's stream layers put on the wire, for rxkcp's unit tests:
// snappy blocks (github.com/golang/snappy Encode), snappy framed streams (NewBufferedWriter with a
// Flush after every Write, which is what kcptun's CompStream does), and the raw bytes a Go smux
// client and server (github.com/xtaci/smux) write to each other in scripted sessions, plain and
// under the compressed stream.
//
// Build and run (offline, GOPATH mode, Debian's packages):
//
//	cd test/interop/capture && GO111MODULE=off GOPATH=/usr/share/gocode go run . -out ../../vectors/kcptun/captures.json
//
// Every input is generated from fixed seeds, so a rerun with the same library versions writes the
// same file (the keepalive capture depends on timing only in how many NOPs it holds).
package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"flag"
	"io"
	"io/ioutil"
	"log"
	"math/rand"
	"net"
	"runtime"
	"sync"
	"time"

	"github.com/golang/snappy"
	"github.com/xtaci/smux"
)

type blockCase struct {
	Name    string `json:"name"`
	Input   string `json:"input_b64"`
	Encoded string `json:"encoded_b64"`
}

type framedCase struct {
	Name   string   `json:"name"`
	Writes []string `json:"writes"` // names of snappy_blocks inputs
	Stream string   `json:"stream_b64"`
}

type smuxCase struct {
	Name      string `json:"name"`
	Version   int    `json:"version"`
	Compress  bool   `json:"compressed"`
	StreamBuf int    `json:"max_stream_buffer"`
	// the script, as steps "side:action:stream:arg" (see runScript)
	Script []string `json:"script"`
	// every payload written, in script order
	Payloads []string `json:"payloads_b64"`
	// bytes each side wrote to the connection, in order
	ClientToServer string `json:"client_to_server_b64"`
	ServerToClient string `json:"server_to_client_b64"`
}

type output struct {
	Generator string       `json:"generator"`
	GoVersion string       `json:"go_version"`
	Blocks    []blockCase  `json:"snappy_blocks"`
	Framed    []framedCase `json:"snappy_framed"`
	Smux      []smuxCase   `json:"smux_sessions"`
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// inputs of several kinds: text, random, runs, repeats at long distances
func inputs() map[string][]byte {
	r := rand.New(rand.NewSource(20210922))
	words := []string{"kcp", "tunnel", "stream", "smux", "frame", "window", "the", "a", "of", "snappy", "\n", "0123456789", "udp", "ack"}
	text := func(n int) []byte {
		var b bytes.Buffer
		for b.Len() < n {
			b.WriteString(words[r.Intn(len(words))])
			b.WriteByte(' ')
		}
		return b.Bytes()[:n]
	}
	random := func(n int) []byte {
		b := make([]byte, n)
		r.Read(b)
		return b
	}
	runs := func(n int) []byte {
		b := make([]byte, 0, n)
		for len(b) < n {
			c := byte(r.Intn(4))
			k := 1 + r.Intn(300)
			for i := 0; i < k && len(b) < n; i++ {
				b = append(b, c)
			}
		}
		return b
	}
	far := func(n int) []byte {
		// a random 3000-byte pattern repeated: copies with offsets >= 2048
		p := random(3000)
		b := make([]byte, 0, n)
		for len(b) < n {
			b = append(b, p...)
		}
		return b[:n]
	}
	mixed := func(n int) []byte {
		var b []byte
		for len(b) < n {
			switch r.Intn(3) {
			case 0:
				b = append(b, text(1+r.Intn(2000))...)
			case 1:
				b = append(b, random(1+r.Intn(500))...)
			default:
				b = append(b, runs(1+r.Intn(1000))...)
			}
		}
		return b[:n]
	}
	return map[string][]byte{
		"empty":          {},
		"one-byte":       {0x61},
		"sixteen":        []byte("0123456789abcdef"),
		"seventeen":      []byte("0123456789abcdefg"),
		"text-100":       text(100),
		"text-4096":      text(4096),
		"text-70000":     text(70000),
		"random-1000":    random(1000),
		"random-5000":    random(5000),
		"runs-10000":     runs(10000),
		"zeros-5000":     make([]byte, 5000),
		"far-repeats":    far(8000),
		"mixed-32776":    mixed(32776),
		"mixed-65536":    mixed(65536),
		"text-literal60": text(61),
		"text-300":       text(300),
	}
}

var order = []string{"empty", "one-byte", "sixteen", "seventeen", "text-100", "text-300", "text-literal60", "text-4096", "text-70000", "random-1000", "random-5000", "runs-10000", "zeros-5000", "far-repeats", "mixed-32776", "mixed-65536"}

// what kcptun's CompStream does per Write: the buffered writer's Write, then Flush
func framed(writes [][]byte) []byte {
	var out bytes.Buffer
	w := snappy.NewBufferedWriter(&out)
	for _, p := range writes {
		if _, err := w.Write(p); err != nil {
			log.Fatal(err)
		}
		if err := w.Flush(); err != nil {
			log.Fatal(err)
		}
	}
	return out.Bytes()
}

// recorder is one end of an in-memory connection that keeps a copy of everything written
type recorder struct {
	net.Conn
	mu  sync.Mutex
	buf bytes.Buffer
}

func (r *recorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	r.buf.Write(p)
	r.mu.Unlock()
	return r.Conn.Write(p)
}

func (r *recorder) bytes() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]byte(nil), r.buf.Bytes()...)
}

// compStream: kcptun's generic.CompStream (which cannot be built in GOPATH mode here, its package
// imports kcp-go/v5): snappy framing over the connection, a Flush after every Write
type compStream struct {
	conn io.ReadWriteCloser
	w    *snappy.Writer
	r    *snappy.Reader
}

func (c *compStream) Read(p []byte) (int, error) { return c.r.Read(p) }
func (c *compStream) Write(p []byte) (int, error) {
	if _, err := c.w.Write(p); err != nil {
		return 0, err
	}
	if err := c.w.Flush(); err != nil {
		return 0, err
	}
	return len(p), nil
}
func (c *compStream) Close() error { return c.conn.Close() }

func newCompStream(conn io.ReadWriteCloser) *compStream {
	return &compStream{conn: conn, w: snappy.NewBufferedWriter(conn), r: snappy.NewReader(conn)}
}

func must(err error) {
	if err != nil {
		log.Fatal(err)
	}
}

// settle gives the smux goroutines time to move queued frames onto the connection, so that each
// step's frames are written before the next step starts
func settle() { time.Sleep(30 * time.Millisecond) }

// runScript plays a fixed sequence of opens, writes, reads and closes on a client and a server
// smux session over an in-memory connection and returns what each side wrote.
func runScript(name string, version int, compress bool, streamBuf int, keepalive bool) smuxCase {
	r := rand.New(rand.NewSource(int64(len(name)) * 7919))
	a, b := net.Pipe()
	ca := &recorder{Conn: a}
	sb := &recorder{Conn: b}
	cfg := smux.DefaultConfig()
	cfg.Version = version
	cfg.MaxStreamBuffer = streamBuf
	cfg.KeepAliveDisabled = !keepalive
	if keepalive {
		cfg.KeepAliveInterval = 20 * time.Millisecond
		cfg.KeepAliveTimeout = 10 * time.Second
	}
	var cconn, sconn io.ReadWriteCloser = ca, sb
	if compress {
		cconn, sconn = newCompStream(ca), newCompStream(sb)
	}
	client, err := smux.Client(cconn, cfg)
	must(err)
	server, err := smux.Server(sconn, cfg)
	must(err)

	c := smuxCase{Name: name, Version: version, Compress: compress, StreamBuf: streamBuf}
	payload := func(n int, random bool) []byte {
		p := make([]byte, n)
		if random {
			r.Read(p)
		} else {
			for i := range p {
				p[i] = "smux frame payload "[i%19]
			}
		}
		c.Payloads = append(c.Payloads, b64(p))
		return p
	}
	readN := func(s *smux.Stream, n int) {
		buf := make([]byte, n)
		_, err := io.ReadFull(s, buf)
		must(err)
	}
	step := func(s string) { c.Script = append(c.Script, s) }

	// client opens stream 3 and writes; the server accepts and reads it all
	cs3, err := client.OpenStream()
	must(err)
	step("client:open:3:")
	settle()
	ss3, err := server.AcceptStream()
	must(err)
	step("server:accept:3:")
	p := payload(100, true)
	_, err = cs3.Write(p)
	must(err)
	step("client:write:3:100")
	readN(ss3, 100)
	step("server:read:3:100")
	settle()
	// the server answers
	p = payload(50, false)
	_, err = ss3.Write(p)
	must(err)
	step("server:write:3:50")
	readN(cs3, 50)
	step("client:read:3:50")
	settle()
	// a write larger than the largest frame: two PSH frames
	p = payload(33000, false)
	go func() { _, err := cs3.Write(p); must(err) }()
	step("client:write:3:33000")
	readN(ss3, 33000)
	step("server:read:3:33000")
	settle()
	// a second client stream, and one the server opens
	cs5, err := client.OpenStream()
	must(err)
	step("client:open:5:")
	settle()
	ss5, err := server.AcceptStream()
	must(err)
	step("server:accept:5:")
	p = payload(10, true)
	_, err = cs5.Write(p)
	must(err)
	step("client:write:5:10")
	readN(ss5, 10)
	step("server:read:5:10")
	settle()
	ss2, err := server.OpenStream()
	must(err)
	step("server:open:2:")
	settle()
	cs2, err := client.AcceptStream()
	must(err)
	step("client:accept:2:")
	p = payload(7, false)
	_, err = ss2.Write(p)
	must(err)
	step("server:write:2:7")
	readN(cs2, 7)
	step("client:read:2:7")
	settle()
	if keepalive {
		time.Sleep(70 * time.Millisecond)
		step("both:idle:0:70")
	}
	// closes: the client closes 3 (FIN), the server sees EOF and closes its end; 5 and 2 likewise
	must(cs3.Close())
	step("client:close:3:")
	settle()
	n, err := ss3.Read(make([]byte, 1))
	if n != 0 || err != io.EOF {
		log.Fatalf("%s: expected EOF on stream 3, got %d %v", name, n, err)
	}
	must(ss3.Close())
	step("server:close:3:")
	settle()
	must(ss2.Close())
	step("server:close:2:")
	settle()
	must(cs2.Close())
	step("client:close:2:")
	settle()
	must(cs5.Close())
	step("client:close:5:")
	settle()
	must(ss5.Close())
	step("server:close:5:")
	settle()
	c.ClientToServer = b64(ca.bytes())
	c.ServerToClient = b64(sb.bytes())
	client.Close()
	server.Close()
	return c
}

func main() {
	out := flag.String("out", "captures.json", "where to write the captures")
	flag.Parse()
	res := output{
		Generator: "test/interop/capture (github.com/golang/snappy 0.0.2, github.com/xtaci/smux 1.5.16, Debian)",
		GoVersion: runtime.Version(),
	}
	in := inputs()
	for _, name := range order {
		res.Blocks = append(res.Blocks, blockCase{Name: name, Input: b64(in[name]), Encoded: b64(snappy.Encode(nil, in[name]))})
	}
	framedCases := []struct {
		name   string
		writes []string
	}{
		{"one-text-write", []string{"text-4096"}},
		{"small-writes", []string{"one-byte", "sixteen", "seventeen", "text-100"}},
		{"incompressible", []string{"random-1000", "random-5000"}},
		{"over-64k", []string{"text-70000", "mixed-65536"}},
		{"empty-write-first", []string{"empty", "text-300", "empty", "runs-10000"}},
		{"mixed", []string{"mixed-32776", "far-repeats", "zeros-5000"}},
	}
	for _, fc := range framedCases {
		var ws [][]byte
		for _, w := range fc.writes {
			ws = append(ws, in[w])
		}
		res.Framed = append(res.Framed, framedCase{Name: fc.name, Writes: fc.writes, Stream: b64(framed(ws))})
	}
	res.Smux = append(res.Smux,
		runScript("v1", 1, false, 65536, false),
		runScript("v2", 2, false, 65536, false),
		runScript("v1-snappy", 1, true, 65536, false),
		runScript("v2-snappy-small-window", 2, true, 16384, false),
		runScript("v1-keepalive", 1, false, 65536, true),
	)
	j, err := json.MarshalIndent(res, "", " ")
	must(err)
	must(ioutil.WriteFile(*out, append(j, '\n'), 0o644))
	log.Printf("wrote %s (%d bytes)", *out, len(j))
}
