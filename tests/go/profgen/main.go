// profgen records a real Go CPU profile with runtime/pprof while it burns CPU in a few
// distinct call paths (some under pprof labels), so cpgo's tests judge real profiles.
//
//	profgen -o out.pprof [-ms 600] [-variant N] [-labels]
package main

import (
	"context"
	"crypto/sha256"
	"flag"
	"log"
	"os"
	"runtime/pprof"
	"sort"
	"strconv"
	"time"
)

var sink uint64

//go:noinline
func hashLoop(n int) {
	b := []byte("cpgo")
	for i := 0; i < n; i++ {
		s := sha256.Sum256(b)
		b = s[:]
	}
	sink += uint64(b[0])
}

//go:noinline
func sortLoop(n int) {
	xs := make([]int, n)
	for i := range xs {
		xs[i] = (i * 7919) % n
	}
	sort.Ints(xs)
	sink += uint64(xs[0])
}

//go:noinline
func fib(n int) int {
	if n < 2 {
		return n
	}
	return fib(n-1) + fib(n-2)
}

func inlinedHelper(x int) int { return x*x + 1 }

//go:noinline
func mathLoop(n int) {
	acc := 0
	for i := 0; i < n; i++ {
		acc += inlinedHelper(i)
	}
	sink += uint64(acc)
}

func work(variant int) {
	switch variant % 4 {
	case 0:
		hashLoop(2000)
		mathLoop(20000)
	case 1:
		sortLoop(5000)
		sink += uint64(fib(18))
	case 2:
		mathLoop(50000)
		hashLoop(1000)
	default:
		sink += uint64(fib(20))
		sortLoop(2000)
	}
}

func main() {
	out := flag.String("o", "cpu.pprof", "output file")
	ms := flag.Int("ms", 600, "milliseconds of CPU work")
	variant := flag.Int("variant", 0, "which mix of work to favour")
	labels := flag.Bool("labels", false, "run part of the work under pprof labels")
	flag.Parse()
	f, err := os.Create(*out)
	if err != nil {
		log.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		log.Fatal(err)
	}
	deadline := time.Now().Add(time.Duration(*ms) * time.Millisecond)
	for i := 0; time.Now().Before(deadline); i++ {
		v := *variant + i
		if *labels && i%2 == 0 {
			pprof.Do(context.Background(), pprof.Labels("worker", strconv.Itoa(i%3), "kind", "batch"),
				func(context.Context) { work(v) })
		} else {
			work(v)
		}
	}
	pprof.StopCPUProfile()
	if err := f.Close(); err != nil {
		log.Fatal(err)
	}
}
