// Command gogarden runs the canonical Go Garden server (code.cloudfoundry.org/garden/server)
// over the in-memory fakebackend, as a reference peer for garden-ts conformance tests and
// benchmarks.
//
//	gogarden -socket /tmp/garden.sock [-grace-time 5m]
//	gogarden -addr 127.0.0.1:7777
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"code.cloudfoundry.org/garden/server"
	"code.cloudfoundry.org/lager/v3"
	"github.com/garden-ts/go-conformance/fakebackend"
)

func main() {
	socket := flag.String("socket", "", "unix socket path to listen on")
	addr := flag.String("addr", "", "TCP HOST:PORT to listen on (instead of -socket)")
	graceTime := flag.Duration("grace-time", 0, "default container grace time (0 = never reap)")
	flag.Parse()

	network, address := "unix", *socket
	switch {
	case *socket != "" && *addr != "":
		fail("give either -socket or -addr, not both")
	case *addr != "":
		network, address = "tcp", *addr
	case *socket == "":
		fail("one of -socket or -addr is required")
	}

	// A logger with no sinks: the server logs every request, which would only cost time here.
	logger := lager.NewLogger("gogarden")
	backend := fakebackend.New()
	srv := server.New(network, address, *graceTime, time.Duration(0), backend, logger)
	if err := srv.Start(); err != nil {
		fail(fmt.Sprintf("start: %v", err))
	}
	fmt.Fprintf(os.Stderr, "gogarden listening on %s %s\n", network, address)

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	<-sigs
	srv.Stop()
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "gogarden:", msg)
	os.Exit(2)
}
