// pprofsvc is a small real Go service with net/http/pprof: it burns CPU in the background
// so that /debug/pprof/profile?seconds=N returns a real CPU profile. It listens on
// 127.0.0.1 only and writes its port to -port-file once listening.
package main

import (
	"crypto/sha256"
	"flag"
	"log"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"sort"
	"strconv"
	"time"
)

var sink uint64

//go:noinline
func hashWork(n int) {
	b := []byte("pprofsvc")
	for i := 0; i < n; i++ {
		s := sha256.Sum256(b)
		b = s[:]
	}
	sink += uint64(b[0])
}

//go:noinline
func sortWork(n int) {
	xs := make([]int, n)
	for i := range xs {
		xs[i] = (i * 7919) % n
	}
	sort.Ints(xs)
	sink += uint64(xs[0])
}

func main() {
	portFile := flag.String("port-file", "", "write the listening port here")
	lifetime := flag.Duration("lifetime", 5*time.Minute, "exit after this long (a safety bound)")
	flag.Parse()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if *portFile != "" {
		tmp := *portFile + ".tmp"
		if err := os.WriteFile(tmp, []byte(strconv.Itoa(port)+"\n"), 0o644); err != nil {
			log.Fatal(err)
		}
		if err := os.Rename(tmp, *portFile); err != nil {
			log.Fatal(err)
		}
	}
	go func() {
		for {
			hashWork(3000)
			sortWork(4000)
			time.Sleep(time.Millisecond)
		}
	}()
	go func() {
		time.Sleep(*lifetime)
		os.Exit(0)
	}()
	log.Fatal(http.Serve(ln, nil))
}
