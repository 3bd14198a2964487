// pgoinline records a real Go CPU profile whose hot path calls main.hotCallee, a function
// too big for the compiler's normal inlining budget (80) but well within the budget PGO
// gives a hot call site (2000): built with that profile, `go build -gcflags=-m=2 -pgo=FILE`
// inlines the call in main.hotCaller, built without it does not. With -park N, N more pairs
// of goroutines ping-pong over unbuffered channels so that runtime.gopark shows up in the
// CPU profile (the frame cpgo renames by default, golang/go#74045).
//
//	pgoinline -o out.pprof [-ms 1500] [-park N]
package main

import (
	"flag"
	"log"
	"os"
	"runtime/pprof"
	"time"
)

var sink int

// hotCallee is deliberately a little too big to inline without a profile.
func hotCallee(xs []int, k int) int {
	s := 0
	for i, x := range xs {
		switch {
		case x%3 == k%3:
			s += x * i
		case x%5 == k%5:
			s -= x ^ i
		case x%7 == k%7:
			s += (x << 2) | i
		default:
			s ^= x + k
		}
		if s > 1<<40 {
			s = s%1000003 + k
		}
		if i&63 == 63 {
			s += s>>7 ^ k
		}
	}
	if s < 0 {
		s = -s + len(xs)
	}
	return s
}

// hotCaller is the hot call site: `hotCallee(xs, k)` below.
//
//go:noinline
func hotCaller(xs []int, n int) int {
	t := 0
	for k := 0; k < n; k++ {
		t += hotCallee(xs, k)
	}
	return t
}

func pingPong(stop <-chan struct{}) {
	a, b := make(chan int), make(chan int)
	go func() {
		for v := range a {
			b <- v + 1
		}
		close(b)
	}()
	for i := 0; ; i++ {
		select {
		case <-stop:
			close(a)
			return
		default:
		}
		a <- i
		sink += <-b
	}
}

func main() {
	out := flag.String("o", "cpu.pprof", "output file")
	ms := flag.Int("ms", 1500, "milliseconds of CPU work")
	park := flag.Int("park", 0, "also N pairs of goroutines ping-ponging over channels (runtime.gopark frames)")
	flag.Parse()
	f, err := os.Create(*out)
	if err != nil {
		log.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		log.Fatal(err)
	}
	stop := make(chan struct{})
	done := make(chan struct{}, *park)
	for i := 0; i < *park; i++ {
		go func() { pingPong(stop); done <- struct{}{} }()
	}
	xs := make([]int, 256)
	for i := range xs {
		xs[i] = i*7919%1009 + 1
	}
	deadline := time.Now().Add(time.Duration(*ms) * time.Millisecond)
	for time.Now().Before(deadline) {
		sink += hotCaller(xs, 64)
	}
	close(stop)
	for i := 0; i < *park; i++ {
		<-done
	}
	pprof.StopCPUProfile()
	if err := f.Close(); err != nil {
		log.Fatal(err)
	}
}
