package main

// quiet mode: many quiet kcp-go client sessions against an echo server, for bench:workers.
//
//	kcppeer quiet --connect HOST:PORT --sessions N [--every 500ms] [--warmup 5s] [--seconds 20s] [session flags]
//
// Dials N sessions (a socket each), writes 8 bytes on each so the server creates it, prints
// {"opened":N}, then waits for the line "start" on stdin. From then on every session writes 64
// bytes every --every (the sessions' sends spread evenly over the interval) and times the echo of
// each; after --warmup, for --seconds, it records the round trips, the sends against the schedule
// and how late a sampling goroutine woke. It prints one line, {"result":{...}}, with the fields of
// bench/quiet-sessions.ts's QuietLoad that a client measures (latencies in ms, sorted; lost; sent;
// scheduled; loopDelayP99, loopDelayMax: how late the sampler woke, in ms; lateShare: the share
// of the time it was late by more than quietLateMs; clientCpu, % of one core; seconds), and exits.

import (
	"bufio"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	kcp "github.com/xtaci/kcp-go"
)

// quietMessage is the size of each message (bytes).
const quietMessage = 64

// quietSample is how often a goroutine wakes to measure how late this process runs.
const quietSample = 5 * time.Millisecond

// quietLateMs: an echo read while this process runs later than this (ms) is timed that much late
// (CLIENT_LATE_MS in bench/quiet-sessions.ts).
const quietLateMs = 10.0

type quietRecorder struct {
	mu        sync.Mutex
	latencies []float64 // ms
	sent      int
	lost      int
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	s := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return s(ru.Utime) + s(ru.Stime)
}

func runQuiet(o *options) {
	if o.sessions <= 0 {
		fail("--sessions must be > 0")
	}
	if o.every <= 0 {
		fail("--every must be > 0")
	}
	quietInterval := o.every // how often each session writes one message
	sessions := make([]*kcp.UDPSession, 0, o.sessions)
	for i := 0; i < o.sessions; i++ {
		s, _, err := dial(o)
		if err != nil {
			fail("dial: %v", err)
		}
		if _, err := s.Write(make([]byte, 8)); err != nil {
			fail("write: %v", err)
		}
		sessions = append(sessions, s)
		if i%500 == 499 {
			time.Sleep(50 * time.Millisecond)
		}
	}
	emit(jsonField("opened", len(sessions)))
	in := bufio.NewScanner(os.Stdin)
	for {
		if !in.Scan() {
			os.Exit(1) // the parent went away
		}
		if strings.TrimSpace(in.Text()) == "start" {
			break
		}
	}

	var measuring atomic.Bool
	rec := &quietRecorder{}
	start := time.Now()
	n := len(sessions)
	for i, s := range sessions {
		var sentAt atomic.Int64 // ns since start of the message awaiting its echo; 0: none
		go func(s *kcp.UDPSession) {
			buf := make([]byte, 65536)
			for {
				m, err := s.Read(buf)
				if err != nil {
					return
				}
				if m < quietMessage {
					continue
				}
				t := sentAt.Swap(0)
				if t != 0 && measuring.Load() {
					ms := float64(time.Since(start).Nanoseconds()-t) / 1e6
					rec.mu.Lock()
					rec.latencies = append(rec.latencies, ms)
					rec.mu.Unlock()
				}
			}
		}(s)
		go func(i int, s *kcp.UDPSession) {
			msg := make([]byte, quietMessage)
			// due by the clock: a sender that wakes late sends at once and keeps its schedule
			next := start.Add(time.Duration(int64(quietInterval) * int64(i) / int64(n)))
			for {
				time.Sleep(time.Until(next))
				now := time.Now()
				if measuring.Load() {
					rec.mu.Lock()
					rec.sent++
					if sentAt.Load() != 0 {
						rec.lost++
					}
					rec.mu.Unlock()
				}
				sentAt.Store(now.Sub(start).Nanoseconds())
				if _, err := s.Write(msg); err != nil {
					return
				}
				next = next.Add(quietInterval)
			}
		}(i, s)
	}
	time.Sleep(o.warmup)
	cpu0 := cpuSeconds()
	t0 := time.Now()
	measuring.Store(true)
	var lateness []float64 // ms
	for last := time.Now(); time.Since(t0) < o.seconds; {
		time.Sleep(quietSample)
		now := time.Now()
		d := float64(now.Sub(last)-quietSample) / 1e6
		if d < 0 {
			d = 0
		}
		lateness = append(lateness, d)
		last = now
	}
	measuring.Store(false)
	elapsed := time.Since(t0).Seconds()
	cpu := cpuSeconds() - cpu0
	lateMs := 0.0
	for _, d := range lateness {
		if d > quietLateMs {
			lateMs += d - quietLateMs
		}
	}

	rec.mu.Lock()
	defer rec.mu.Unlock()
	sort.Float64s(rec.latencies)
	sort.Float64s(lateness)
	p99, max := 0.0, 0.0
	if k := len(lateness); k > 0 {
		p99 = lateness[min(k-1, k*99/100)]
		max = lateness[k-1]
	}
	var b strings.Builder
	b.WriteString("[")
	for i, x := range rec.latencies {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(strconv.FormatFloat(x, 'f', 2, 64))
	}
	b.WriteString("]")
	result := "{" + strings.Join([]string{
		jsonField("latencies", rawJSON(b.String())),
		jsonField("lost", rec.lost),
		jsonField("sent", rec.sent),
		jsonField("scheduled", int(float64(n)*elapsed/quietInterval.Seconds()+0.5)),
		jsonField("loopDelayP99", p99),
		jsonField("loopDelayMax", max),
		jsonField("lateShare", lateMs/(elapsed*1000)),
		jsonField("clientCpu", cpu/elapsed*100),
		jsonField("seconds", elapsed),
	}, ",") + "}"
	emit(jsonField("result", rawJSON(result)))
	os.Exit(0)
}

func min(a, b int) int {
	if a < b {
		return a
	}
	return b
}
