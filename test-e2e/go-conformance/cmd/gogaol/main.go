// Command gogaol is the Go side of the CLI benchmark (bench/cases/cli-create-destroy.mjs): the
// part of gaol (github.com/contraband/gaol, the Go Garden CLI) the benchmark times, on the same
// canonical Go client (code.cloudfoundry.org/garden/client), so that `gaol create` / `gaol
// destroy` of garden-ts can be compared with a native CLI's start and round trips.
//
//	gogaol -t /tmp/garden.sock create [-n HANDLE]
//	gogaol -t /tmp/garden.sock destroy HANDLE...
//	gogaol -t /tmp/garden.sock ping
package main

import (
	"flag"
	"fmt"
	"os"

	"code.cloudfoundry.org/garden"
	"code.cloudfoundry.org/garden/client"
	"code.cloudfoundry.org/garden/client/connection"
)

func main() {
	target := flag.String("t", "/tmp/garden.sock", "unix socket of the Garden server")
	flag.Parse()
	args := flag.Args()
	if len(args) == 0 {
		fail(fmt.Errorf("usage: gogaol -t SOCKET create [-n HANDLE] | destroy HANDLE... | ping"))
	}
	c := client.New(connection.New("unix", *target))
	switch args[0] {
	case "ping":
		failIf(c.Ping())
	case "create":
		fs := flag.NewFlagSet("create", flag.ExitOnError)
		handle := fs.String("n", "", "handle")
		failIf(fs.Parse(args[1:]))
		container, err := c.Create(garden.ContainerSpec{Handle: *handle})
		failIf(err)
		fmt.Println(container.Handle())
	case "destroy":
		for _, h := range args[1:] {
			failIf(c.Destroy(h))
		}
	default:
		fail(fmt.Errorf("unknown command %q", args[0]))
	}
}

func failIf(err error) {
	if err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "failed:", err)
	os.Exit(125)
}
