// Command kcppeer is rxkcp's interop peer: a small program built against the real kcp-go 5.6.1
// (Debian's golang-github-xtaci-kcp-dev, GOPATH mode, import path github.com/xtaci/kcp-go) that
// rxkcp's interop tests and benchmarks talk to.
//
// Build (offline):
//
//	cd test/interop/kcppeer && GO111MODULE=off GOPATH=/usr/share/gocode go build -o ../bin/kcppeer .
//
// Modes (first argument):
//
//	echo   --listen HOST:PORT        every accepted session echoes every byte it reads
//	sink   --listen HOST:PORT        every accepted session discards what it reads, counting bytes
//	send   --connect HOST:PORT --bytes N   writes N pattern bytes, reads the echo back, verifies it
//	oneway --connect HOST:PORT --bytes N   writes N pattern bytes to a sink, waits until all are acked
//	pattern --offset I --bytes N           writes pattern bytes [I, I+N) to stdout (cross-checks pattern.ts)
//	quiet  --connect HOST:PORT --sessions N  N sessions, 64 bytes every --every (500 ms) each, echoes timed (quiet.go)
//
// Session options use kcptun's flag names and meanings (--crypt, --key, --datashard, --parityshard,
// --mode, --nodelay, --interval, --resend, --nc, --mtu, --sndwnd, --rcvwnd, --acknodelay), so a
// kcppeer and a kcptun configured alike put the same bytes on the wire. `kcppeer <mode> -h` lists
// every flag.
//
// Output is JSON lines on stdout (diagnostics go to stderr):
//
//	listening modes: {"ready":true,"addr":"127.0.0.1:PORT"} once the socket is bound;
//	  {"accepted":"ADDR","conv":N} per new session; sink with --expect N: {"session":...,"received":N,...}
//	  when a session has received N bytes (and a line when a session's Read fails);
//	  {"snapshot":true,...} on SIGUSR1 or on the line "stats" on stdin (with --control-stdin);
//	  {"final":true,...} on SIGINT/SIGTERM (or stdin EOF/"quit" with --control-stdin), then exit 0.
//	send/oneway: one result line with --json: {"ok":true,"verified":N,"bytes":N,"elapsed_ms":..,
//	  "mb_per_s":..,"cpu_user_s":..,"cpu_sys_s":..,"stats":{...}}; exit status 1 when ok is false.
//
// "stats" objects are kcp-go's process-wide DefaultSnmp, keyed by its own Header() names
// (BytesSent ... InCsumErrors ... FECShortShards for 5.6.1), values as numbers.
package main

import (
	"bufio"
	"crypto/sha1"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand"
	"net"
	"os"
	"os/signal"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	kcp "github.com/xtaci/kcp-go"
	"golang.org/x/crypto/pbkdf2"
)

// ---------------------------------------------------------------------------------------------
// The shared byte pattern. test/interop/pattern.ts defines the same function; keep them equal.
//
// Byte number i (0-based offset in the stream, any non-negative integer) is
//
//	patternByte(i) = (i*7 + (i >> 8) + (i >> 16) + (i >> 24)) mod 256
//
// Consecutive bytes differ by 7 (so a dropped, duplicated or swapped byte shows), and the
// higher terms make the pattern repeat only every 2^32 bytes (so a lost or repeated 64 KiB
// block shows too). Because only the result mod 256 matters, i*7 may be taken mod 256 first:
// the TypeScript side computes it exactly for any offset below 2^53.
// ---------------------------------------------------------------------------------------------

func patternByte(i uint64) byte {
	return byte(i*7 + i>>8 + i>>16 + i>>24)
}

// fillPattern writes the pattern bytes for stream offsets [offset, offset+len(buf)) into buf.
func fillPattern(buf []byte, offset uint64) {
	for k := range buf {
		buf[k] = patternByte(offset + uint64(k))
	}
}

// ---------------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------------

// options holds every flag of every mode; each mode registers the subset it uses.
type options struct {
	// kcptun-compatible session options
	crypt       string
	key         string
	dataShard   int
	parityShard int
	mode        string
	noDelay     int
	interval    int
	resend      int
	nc          int
	mtu         int
	sndWnd      int
	rcvWnd      int
	ackNoDelay  bool
	stream      bool
	sockBuf     int
	// loss injection
	loss float64
	seed int64
	// addresses and transfer sizes
	listen       string
	connect      string
	bytes        int64
	offset       int64
	msg          int
	conv         int64
	expect       int64
	echoConv     int64
	stallTimeout time.Duration
	// quiet mode
	sessions int
	warmup   time.Duration
	seconds  time.Duration
	every    time.Duration
	// output and control
	jsonOut      bool
	controlStdin bool
}

// kcptun's --mode presets: (nodelay, interval, resend, nc). "manual" keeps the explicit flags.
var modePresets = map[string][4]int{
	"normal": {0, 40, 2, 1},
	"fast":   {0, 30, 2, 1},
	"fast2":  {1, 20, 2, 1},
	"fast3":  {1, 10, 2, 1},
}

func newFlagSet(mode string, o *options) *flag.FlagSet {
	fs := flag.NewFlagSet("kcppeer "+mode, flag.ExitOnError)
	if mode == "pattern" {
		fs.Int64Var(&o.offset, "offset", 0, "stream offset of the first byte")
		fs.Int64Var(&o.bytes, "bytes", 256, "number of bytes to write")
		return fs
	}
	// Defaults follow kcptun (server side where client and server differ), except --stream,
	// which kcptun always turns on and kcp-go leaves off: here it is off unless asked for.
	fs.StringVar(&o.crypt, "crypt", "aes", "aes, aes-128, aes-192, salsa20, blowfish, twofish, cast5, 3des, tea, xtea, xor, sm4, none, null (null/off = no BlockCrypt at all: no nonce/CRC header)")
	fs.StringVar(&o.key, "key", "it's a secrect", "pre-shared secret; the cipher key is PBKDF2-SHA1(key, \"kcp-go\", 4096, 32) sliced per cipher as kcptun does")
	fs.IntVar(&o.dataShard, "datashard", 10, "Reed-Solomon data shards (0 = no FEC)")
	fs.IntVar(&o.dataShard, "ds", 10, "alias of --datashard")
	fs.IntVar(&o.parityShard, "parityshard", 3, "Reed-Solomon parity shards (0 = no FEC)")
	fs.IntVar(&o.parityShard, "ps", 3, "alias of --parityshard")
	fs.StringVar(&o.mode, "mode", "fast", "profiles: normal (0,40,2,1), fast (0,30,2,1), fast2 (1,20,2,1), fast3 (1,10,2,1), manual (use --nodelay --interval --resend --nc)")
	fs.IntVar(&o.noDelay, "nodelay", 0, "KCP nodelay (only with --mode manual)")
	fs.IntVar(&o.interval, "interval", 50, "KCP update interval in ms (only with --mode manual)")
	fs.IntVar(&o.resend, "resend", 0, "KCP fast resend threshold (only with --mode manual)")
	fs.IntVar(&o.nc, "nc", 0, "1 = no congestion control (only with --mode manual)")
	fs.IntVar(&o.mtu, "mtu", 1350, "maximum UDP payload size in bytes (50..1500)")
	fs.IntVar(&o.sndWnd, "sndwnd", 1024, "send window in packets")
	fs.IntVar(&o.rcvWnd, "rcvwnd", 1024, "receive window in packets")
	fs.BoolVar(&o.ackNoDelay, "acknodelay", false, "flush ACKs as soon as a packet is received")
	fs.BoolVar(&o.stream, "stream", false, "KCP stream mode (SetStreamMode(true)); kcptun always uses it")
	fs.IntVar(&o.sockBuf, "sockbuf", 4194304, "UDP socket read and write buffer in bytes (0 = system default)")
	fs.Float64Var(&o.loss, "loss", 0, "drop this fraction (0..1) of outgoing AND of incoming datagrams at random")
	fs.Int64Var(&o.seed, "seed", 1, "seed of the loss generator")
	fs.BoolVar(&o.jsonOut, "json", false, "print the result as one JSON line (listening modes always print JSON)")
	switch mode {
	case "echo", "sink":
		fs.StringVar(&o.listen, "listen", "127.0.0.1:0", "UDP address to listen on (port 0 = ephemeral; the ready line reports the real one)")
		fs.BoolVar(&o.controlStdin, "control-stdin", false, "read commands from stdin (\"stats\", \"quit\"); EOF on stdin also quits")
		if mode == "sink" {
			fs.Int64Var(&o.expect, "expect", 0, "print a report line when a session has received this many bytes (0 = never)")
			fs.Int64Var(&o.echoConv, "echo-conv", -1, "echo (instead of sink) the sessions with this conversation id, e.g. a latency probe beside a bulk transfer (-1 = none)")
		}
	case "send", "oneway":
		fs.StringVar(&o.connect, "connect", "", "UDP address of the peer (required)")
		fs.Int64Var(&o.bytes, "bytes", 4194304, "number of pattern bytes to send")
		fs.IntVar(&o.msg, "msg", 16384, "bytes per Write call")
		fs.Int64Var(&o.conv, "conv", -1, "conversation id (-1 = random, as kcp.DialWithOptions)")
		fs.DurationVar(&o.stallTimeout, "stall-timeout", 10*time.Second, "fail when no progress is made for this long")
	case "quiet":
		fs.StringVar(&o.connect, "connect", "", "UDP address of the echo server (required)")
		fs.IntVar(&o.sessions, "sessions", 1000, "client sessions, a socket each")
		fs.DurationVar(&o.warmup, "warmup", 5*time.Second, "load before the echoes are timed")
		fs.DurationVar(&o.seconds, "seconds", 20*time.Second, "how long the echoes are timed")
		fs.DurationVar(&o.every, "every", 500*time.Millisecond, "how often each session writes one message")
	}
	return fs
}

// validate checks the options and resolves --mode into the four KCP nodelay parameters.
func (o *options) validate(mode string) error {
	if p, ok := modePresets[o.mode]; ok {
		o.noDelay, o.interval, o.resend, o.nc = p[0], p[1], p[2], p[3]
	} else if o.mode != "manual" {
		return fmt.Errorf("--mode must be normal, fast, fast2, fast3 or manual, got %q", o.mode)
	}
	if o.mtu < 50 || o.mtu > 1500 {
		return fmt.Errorf("--mtu must be 50..1500, got %d", o.mtu)
	}
	if o.loss < 0 || o.loss >= 1 {
		return fmt.Errorf("--loss must be in [0, 1), got %v", o.loss)
	}
	if o.dataShard < 0 || o.parityShard < 0 {
		return fmt.Errorf("--datashard and --parityshard must be >= 0")
	}
	if (mode == "send" || mode == "oneway" || mode == "quiet") && o.connect == "" {
		return errors.New("--connect HOST:PORT is required")
	}
	if o.bytes < 0 || (o.msg <= 0 && (mode == "send" || mode == "oneway")) {
		return errors.New("--bytes must be >= 0 and --msg > 0")
	}
	return nil
}

// ---------------------------------------------------------------------------------------------
// Ciphers, as kcptun maps --crypt names to kcp-go constructors
// ---------------------------------------------------------------------------------------------

// kcptunSalt is the PBKDF2 salt kcptun uses to stretch --key into 32 bytes.
const kcptunSalt = "kcp-go"

// newBlockCrypt returns the BlockCrypt kcptun would build for (crypt, key). "null" (alias "off")
// is kcppeer's own name for no BlockCrypt at all: datagrams then carry no nonce and no CRC,
// unlike "none", which keeps the 20-byte header with an identity cipher. Unlike kcptun, an
// unknown name is an error rather than a silent fallback to AES-256.
func newBlockCrypt(crypt, key string) (kcp.BlockCrypt, error) {
	pass := pbkdf2.Key([]byte(key), []byte(kcptunSalt), 4096, 32, sha1.New)
	switch crypt {
	case "null", "off":
		return nil, nil
	case "aes":
		return kcp.NewAESBlockCrypt(pass) // AES-256
	case "aes-128":
		return kcp.NewAESBlockCrypt(pass[:16])
	case "aes-192":
		return kcp.NewAESBlockCrypt(pass[:24])
	case "salsa20":
		return kcp.NewSalsa20BlockCrypt(pass)
	case "blowfish":
		return kcp.NewBlowfishBlockCrypt(pass)
	case "twofish":
		return kcp.NewTwofishBlockCrypt(pass)
	case "cast5":
		return kcp.NewCast5BlockCrypt(pass[:16])
	case "3des":
		return kcp.NewTripleDESBlockCrypt(pass[:24])
	case "tea":
		return kcp.NewTEABlockCrypt(pass[:16])
	case "xtea":
		return kcp.NewXTEABlockCrypt(pass[:16])
	case "xor":
		return kcp.NewSimpleXORBlockCrypt(pass)
	case "sm4":
		return kcp.NewSM4BlockCrypt(pass[:16])
	case "none":
		return kcp.NewNoneBlockCrypt(pass)
	}
	return nil, fmt.Errorf("unknown --crypt %q", crypt)
}

// applySessionOptions configures a session the way kcptun does (write delay off, then nodelay,
// mtu, windows, ack-nodelay), plus stream mode when asked for.
func applySessionOptions(s *kcp.UDPSession, o *options) {
	s.SetStreamMode(o.stream)
	s.SetWriteDelay(false)
	s.SetNoDelay(o.noDelay, o.interval, o.resend, o.nc)
	s.SetMtu(o.mtu)
	s.SetWindowSize(o.sndWnd, o.rcvWnd)
	s.SetACKNoDelay(o.ackNoDelay)
}

// ---------------------------------------------------------------------------------------------
// Loss injection
// ---------------------------------------------------------------------------------------------

// lossyConn wraps the socket handed to kcp-go and drops a fraction of the datagrams in both
// directions: a dropped write reports success without sending; a dropped read is discarded and
// the next datagram is read instead. Only the net.PacketConn methods are passed through, so
// kcp-go falls back to its one-datagram-per-call read and write loops (no recvmmsg/sendmmsg).
type lossyConn struct {
	net.PacketConn
	loss       float64
	mu         sync.Mutex
	rng        *rand.Rand
	droppedIn  uint64
	droppedOut uint64
}

func newLossyConn(conn net.PacketConn, loss float64, seed int64) *lossyConn {
	return &lossyConn{PacketConn: conn, loss: loss, rng: rand.New(rand.NewSource(seed))}
}

func (c *lossyConn) drop() bool {
	c.mu.Lock()
	d := c.rng.Float64() < c.loss
	c.mu.Unlock()
	return d
}

func (c *lossyConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.PacketConn.ReadFrom(p)
		if err != nil || !c.drop() {
			return n, addr, err
		}
		atomic.AddUint64(&c.droppedIn, 1)
	}
}

func (c *lossyConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	if c.drop() {
		atomic.AddUint64(&c.droppedOut, 1)
		return len(p), nil
	}
	return c.PacketConn.WriteTo(p, addr)
}

// openSocket binds a UDP socket on laddr, sizes its buffers and wraps it for loss if asked.
// Without loss the *net.UDPConn itself is returned so kcp-go uses its batched Linux I/O.
func openSocket(network, laddr string, o *options) (net.PacketConn, *lossyConn, error) {
	udpAddr, err := net.ResolveUDPAddr(network, laddr)
	if err != nil {
		return nil, nil, err
	}
	conn, err := net.ListenUDP(network, udpAddr)
	if err != nil {
		return nil, nil, err
	}
	if o.sockBuf > 0 {
		// Best effort: the kernel caps these at net.core.[rw]mem_max.
		_ = conn.SetReadBuffer(o.sockBuf)
		_ = conn.SetWriteBuffer(o.sockBuf)
	}
	if o.loss > 0 {
		lc := newLossyConn(conn, o.loss, o.seed)
		return lc, lc, nil
	}
	return conn, nil, nil
}

// ---------------------------------------------------------------------------------------------
// Reporting
// ---------------------------------------------------------------------------------------------

var stdoutMu sync.Mutex

// emit prints one JSON line on stdout; lines from different goroutines never interleave.
func emit(fields ...string) {
	line := "{" + strings.Join(fields, ",") + "}\n"
	stdoutMu.Lock()
	os.Stdout.WriteString(line)
	stdoutMu.Unlock()
}

// jsonField renders one "name":value pair; strings are quoted, numbers and raw JSON pass through.
func jsonField(name string, value interface{}) string {
	var v string
	switch x := value.(type) {
	case string:
		v = strconv.Quote(x)
	case bool:
		v = strconv.FormatBool(x)
	case int:
		v = strconv.Itoa(x)
	case int64:
		v = strconv.FormatInt(x, 10)
	case uint64:
		v = strconv.FormatUint(x, 10)
	case uint32:
		v = strconv.FormatUint(uint64(x), 10)
	case int32:
		v = strconv.FormatInt(int64(x), 10)
	case float64:
		v = strconv.FormatFloat(x, 'f', 3, 64)
	case rawJSON:
		v = string(x)
	default:
		v = strconv.Quote(fmt.Sprint(x))
	}
	return strconv.Quote(name) + ":" + v
}

type rawJSON string

// snmpJSON renders kcp.DefaultSnmp as an object keyed by kcp-go's own Header() names, in that
// order, so the field set is whatever this kcp-go version counts (InCsumErrors included).
func snmpJSON() rawJSON {
	snap := kcp.DefaultSnmp.Copy()
	names, values := snap.Header(), snap.ToSlice()
	parts := make([]string, len(names))
	for i := range names {
		parts[i] = strconv.Quote(names[i]) + ":" + values[i] // ToSlice values are decimal integers
	}
	return rawJSON("{" + strings.Join(parts, ",") + "}")
}

// cpuFields reports this process's user and system CPU seconds (getrusage RUSAGE_SELF).
func cpuFields() []string {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return nil
	}
	seconds := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return []string{jsonField("cpu_user_s", seconds(ru.Utime)), jsonField("cpu_sys_s", seconds(ru.Stime))}
}

// lossFields reports how many datagrams the loss wrapper dropped (nothing when loss is off).
func lossFields(lc *lossyConn) []string {
	if lc == nil {
		return nil
	}
	return []string{
		jsonField("loss_dropped_in", atomic.LoadUint64(&lc.droppedIn)),
		jsonField("loss_dropped_out", atomic.LoadUint64(&lc.droppedOut)),
	}
}

// throughput in MB/s, 1 MB = 10^6 bytes.
func mbPerSecond(bytes int64, elapsed time.Duration) float64 {
	if elapsed <= 0 {
		return 0
	}
	return float64(bytes) / 1e6 / elapsed.Seconds()
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "kcppeer: "+format+"\n", args...)
	os.Exit(2)
}

// ---------------------------------------------------------------------------------------------
// Listening modes: echo and sink
// ---------------------------------------------------------------------------------------------

func runListener(mode string, o *options) {
	block, err := newBlockCrypt(o.crypt, o.key)
	if err != nil {
		fail("%v", err)
	}
	conn, lc, err := openSocket("udp", o.listen, o)
	if err != nil {
		fail("listen %s: %v", o.listen, err)
	}
	// ServeConn (not ListenWithOptions) so the loss wrapper can sit under the listener.
	lis, err := kcp.ServeConn(block, o.dataShard, o.parityShard, conn)
	if err != nil {
		fail("ServeConn: %v", err)
	}

	var sessions, total int64 // accepted sessions; bytes echoed or received by all of them
	summary := func(kind string) {
		fields := []string{jsonField(kind, true), jsonField("mode", mode), jsonField("sessions", atomic.LoadInt64(&sessions))}
		if mode == "echo" {
			fields = append(fields, jsonField("echoed", atomic.LoadInt64(&total)))
		} else {
			fields = append(fields, jsonField("received", atomic.LoadInt64(&total)))
		}
		fields = append(fields, cpuFields()...)
		fields = append(fields, lossFields(lc)...)
		fields = append(fields, jsonField("stats", snmpJSON()))
		emit(fields...)
	}

	emit(jsonField("ready", true), jsonField("addr", conn.LocalAddr().String()))

	go func() {
		for {
			s, err := lis.AcceptKCP()
			if err != nil {
				fmt.Fprintf(os.Stderr, "kcppeer: accept: %v\n", err)
				return
			}
			applySessionOptions(s, o)
			atomic.AddInt64(&sessions, 1)
			emit(jsonField("accepted", s.RemoteAddr().String()), jsonField("conv", s.GetConv()))
			if mode == "echo" {
				go echoSession(s, &total)
			} else if o.echoConv >= 0 && int64(s.GetConv()) == o.echoConv {
				var echoed int64 // not counted as received
				go echoSession(s, &echoed)
			} else {
				go sinkSession(s, o, &total, lc)
			}
		}
	}()

	quit := make(chan struct{}, 1)
	if o.controlStdin {
		go func() {
			sc := bufio.NewScanner(os.Stdin)
			for sc.Scan() {
				switch strings.TrimSpace(sc.Text()) {
				case "stats":
					summary("snapshot")
				case "quit":
					quit <- struct{}{}
					return
				}
			}
			quit <- struct{}{} // EOF: the controlling process has gone
		}()
	}

	sig := make(chan os.Signal, 4)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM, syscall.SIGUSR1)
	for {
		select {
		case s := <-sig:
			if s == syscall.SIGUSR1 {
				summary("snapshot")
				continue
			}
		case <-quit:
		}
		summary("final")
		os.Exit(0)
	}
}

// echoSession writes back every byte it reads, until Read fails (the session is closed).
func echoSession(s *kcp.UDPSession, total *int64) {
	buf := make([]byte, 65536)
	for {
		n, err := s.Read(buf)
		if n > 0 {
			if _, werr := s.Write(buf[:n]); werr != nil {
				fmt.Fprintf(os.Stderr, "kcppeer: echo write %s: %v\n", s.RemoteAddr(), werr)
				return
			}
			atomic.AddInt64(total, int64(n))
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				fmt.Fprintf(os.Stderr, "kcppeer: echo read %s: %v\n", s.RemoteAddr(), err)
			}
			return
		}
	}
}

// sinkSession reads and discards. With --expect N it prints a report line once this session has
// received N bytes (elapsed time measured from the accept); it always prints one if Read fails.
func sinkSession(s *kcp.UDPSession, o *options, total *int64, lc *lossyConn) {
	start := time.Now()
	var received int64
	report := func(reason string) {
		elapsed := time.Since(start)
		fields := []string{
			jsonField("session", s.RemoteAddr().String()), jsonField("conv", s.GetConv()),
			jsonField("event", reason), jsonField("received", received),
			jsonField("elapsed_ms", float64(elapsed.Microseconds())/1e3),
			jsonField("mb_per_s", mbPerSecond(received, elapsed)),
		}
		fields = append(fields, cpuFields()...)
		fields = append(fields, lossFields(lc)...)
		fields = append(fields, jsonField("stats", snmpJSON()))
		emit(fields...)
	}
	buf := make([]byte, 65536)
	for {
		n, err := s.Read(buf)
		if n > 0 {
			before := received
			received += int64(n)
			atomic.AddInt64(total, int64(n))
			if o.expect > 0 && before < o.expect && received >= o.expect {
				report("expect")
			}
		}
		if err != nil {
			report("closed")
			return
		}
	}
}

// ---------------------------------------------------------------------------------------------
// Connecting modes: send (verified echo) and oneway (to a sink)
// ---------------------------------------------------------------------------------------------

// dial opens a client session over our own socket (so loss can be injected under it), the same
// way kcp.DialWithOptions does: udp4 for an IPv4 peer, an ephemeral local port, a random conv.
func dial(o *options) (*kcp.UDPSession, *lossyConn, error) {
	block, err := newBlockCrypt(o.crypt, o.key)
	if err != nil {
		return nil, nil, err
	}
	raddr, err := net.ResolveUDPAddr("udp", o.connect)
	if err != nil {
		return nil, nil, err
	}
	network, laddr := "udp4", "0.0.0.0:0"
	if raddr.IP.To4() == nil {
		network, laddr = "udp", "[::]:0"
	}
	conn, lc, err := openSocket(network, laddr, o)
	if err != nil {
		return nil, nil, err
	}
	var s *kcp.UDPSession
	if o.conv >= 0 {
		s, err = kcp.NewConn3(uint32(o.conv), raddr, block, o.dataShard, o.parityShard, conn)
	} else {
		s, err = kcp.NewConn2(raddr, block, o.dataShard, o.parityShard, conn)
	}
	if err != nil {
		return nil, nil, err
	}
	applySessionOptions(s, o)
	return s, lc, nil
}

// waitSnd returns the number of segments the session still has queued or unacknowledged.
// kcp-go 5.6.1 exposes KCP.WaitSnd but not the session's KCP or its lock, so this reaches the
// unexported UDPSession fields `kcp` and `mu` by reflection (read-only use, under the lock).
func waitSnd(s *kcp.UDPSession) int {
	v := reflect.ValueOf(s).Elem()
	mu := (*sync.Mutex)(unsafe.Pointer(v.FieldByName("mu").UnsafeAddr()))
	k := *(**kcp.KCP)(unsafe.Pointer(v.FieldByName("kcp").UnsafeAddr()))
	mu.Lock()
	defer mu.Unlock()
	return k.WaitSnd()
}

// transferResult is what send and oneway print.
type transferResult struct {
	ok       bool
	err      string
	written  int64
	verified int64
	elapsed  time.Duration
}

func printTransfer(mode string, o *options, s *kcp.UDPSession, lc *lossyConn, r transferResult) {
	counted := r.verified
	if mode == "oneway" {
		counted = r.written
	}
	if !o.jsonOut {
		status := "ok"
		if !r.ok {
			status = "FAILED: " + r.err
		}
		fmt.Printf("kcppeer %s: %s; %d bytes in %.1f ms = %.2f MB/s\n", mode, status, counted,
			float64(r.elapsed.Microseconds())/1e3, mbPerSecond(counted, r.elapsed))
		return
	}
	fields := []string{jsonField("ok", r.ok)}
	if !r.ok {
		fields = append(fields, jsonField("error", r.err))
	}
	fields = append(fields, jsonField("mode", mode))
	if mode == "send" {
		fields = append(fields, jsonField("verified", r.verified))
	}
	fields = append(fields,
		jsonField("bytes", o.bytes), jsonField("written", r.written),
		jsonField("elapsed_ms", float64(r.elapsed.Microseconds())/1e3),
		jsonField("mb_per_s", mbPerSecond(counted, r.elapsed)),
		jsonField("conv", s.GetConv()), jsonField("srtt_ms", s.GetSRTT()), jsonField("rto_ms", s.GetRTO()),
	)
	fields = append(fields, cpuFields()...)
	fields = append(fields, lossFields(lc)...)
	fields = append(fields, jsonField("stats", snmpJSON()))
	emit(fields...)
}

func runTransfer(mode string, o *options) {
	s, lc, err := dial(o)
	if err != nil {
		fail("dial %s: %v", o.connect, err)
	}
	var written, verified int64  // progress, shared with the watchdog
	done := make(chan string, 3) // "" = success, else the failure

	start := time.Now()
	// Writer: the pattern in --msg sized Write calls.
	go func() {
		buf := make([]byte, o.msg)
		for off := int64(0); off < o.bytes; {
			n := int64(o.msg)
			if o.bytes-off < n {
				n = o.bytes - off
			}
			fillPattern(buf[:n], uint64(off))
			if _, err := s.Write(buf[:n]); err != nil {
				done <- "write: " + err.Error()
				return
			}
			off += n
			atomic.StoreInt64(&written, off)
		}
		if mode == "oneway" {
			// Done when every segment has been acknowledged by the peer.
			for waitSnd(s) > 0 {
				time.Sleep(time.Millisecond)
			}
			done <- ""
		}
	}()
	// Reader (send only): verify the echo byte by byte.
	if mode == "send" {
		go func() {
			buf := make([]byte, 65536)
			var off int64
			for off < o.bytes {
				n, err := s.Read(buf)
				for k := 0; k < n; k++ {
					if off >= o.bytes {
						done <- fmt.Sprintf("echo returned more than %d bytes", o.bytes)
						return
					}
					if want := patternByte(uint64(off)); buf[k] != want {
						done <- fmt.Sprintf("mismatch at offset %d: got 0x%02x, want 0x%02x", off, buf[k], want)
						return
					}
					off++
				}
				atomic.StoreInt64(&verified, off)
				if err != nil {
					done <- "read: " + err.Error()
					return
				}
			}
			done <- ""
		}()
	}
	// Watchdog: fail when neither written nor verified bytes nor the unacked count moves.
	go func() {
		last, lastChange := [3]int64{-1, -1, -1}, time.Now()
		for range time.Tick(50 * time.Millisecond) {
			now := [3]int64{atomic.LoadInt64(&written), atomic.LoadInt64(&verified), int64(waitSnd(s))}
			if now != last {
				last, lastChange = now, time.Now()
			} else if time.Since(lastChange) > o.stallTimeout {
				done <- fmt.Sprintf("stall: no progress for %v (written %d, verified %d, unacked segments %d)",
					o.stallTimeout, now[0], now[1], now[2])
				return
			}
		}
	}()
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() { <-sig; done <- "interrupted" }()

	failure := <-done
	r := transferResult{
		ok: failure == "", err: failure, elapsed: time.Since(start),
		written: atomic.LoadInt64(&written), verified: atomic.LoadInt64(&verified),
	}
	// Close flushes once more, so the last ACKs for the echo reach the echo server.
	s.Close()
	printTransfer(mode, o, s, lc, r)
	if !r.ok {
		os.Exit(1)
	}
}

// ---------------------------------------------------------------------------------------------

func usage() {
	fmt.Fprintln(os.Stderr, `usage: kcppeer echo|sink   [--listen HOST:PORT] [session flags]
       kcppeer send|oneway --connect HOST:PORT [--bytes N] [--msg SIZE] [--json] [session flags]
       kcppeer pattern [--offset I] [--bytes N]
       kcppeer quiet --connect HOST:PORT [--sessions N] [--every D] [--warmup D] [--seconds D] [session flags]
run "kcppeer <mode> -h" for every flag`)
	os.Exit(2)
}

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	mode := os.Args[1]
	switch mode {
	case "echo", "sink", "send", "oneway", "pattern", "quiet":
	default:
		usage()
	}
	o := &options{}
	fs := newFlagSet(mode, o)
	if err := fs.Parse(os.Args[2:]); err != nil {
		fail("%v", err)
	}
	if fs.NArg() > 0 {
		fail("unexpected argument %q", fs.Arg(0))
	}
	if err := o.validate(mode); mode != "pattern" && err != nil {
		fail("%v", err)
	}
	switch mode {
	case "pattern":
		if o.offset < 0 || o.bytes < 0 {
			fail("--offset and --bytes must be >= 0")
		}
		buf := make([]byte, o.bytes)
		fillPattern(buf, uint64(o.offset))
		os.Stdout.Write(buf)
	case "echo", "sink":
		runListener(mode, o)
	case "quiet":
		runQuiet(o)
	default:
		runTransfer(mode, o)
	}
}
