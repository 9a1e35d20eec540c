package conformance

// Server lifecycle for the conformance suite. The target is chosen with GARDEN_TARGET:
//
//	ts (default)  GARDEND (default "node <repo>/packages/server/dist/bin/gardend.js")
//	              started with --backend fake --bind-socket SOCK --log-level error
//	go            the canonical Go server over fakebackend (cmd/gogarden), built on the fly
//
// GARDEN_SOCKET=PATH skips starting anything and targets an already running server.

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"code.cloudfoundry.org/garden"
	"code.cloudfoundry.org/garden/client"
	"code.cloudfoundry.org/garden/client/connection"
)

var (
	// gardenClient is the canonical Go client connected to the server under test.
	gardenClient garden.Client
	// socketPath is the unix socket of the server under test.
	socketPath string
	// target names the server under test ("ts" or "go").
	target string
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	target = os.Getenv("GARDEN_TARGET")
	if target == "" {
		target = "ts"
	}
	if sock := os.Getenv("GARDEN_SOCKET"); sock != "" {
		socketPath = sock
		gardenClient = client.New(connection.New("unix", sock))
		return m.Run()
	}

	dir, err := os.MkdirTemp("", "garden-conformance-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	socketPath = filepath.Join(dir, "garden.sock")

	cmd, err := serverCommand(dir, socketPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, "conformance:", err)
		return 1
	}
	cmd.Stdout = os.Stderr
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "conformance: start %v: %v\n", cmd.Args, err)
		return 1
	}
	exited := waitInBackground(cmd)
	defer stopServer(cmd.Process.Pid, exited)

	gardenClient = client.New(connection.New("unix", socketPath))
	if err := waitForPing(exited, 20*time.Second); err != nil {
		fmt.Fprintf(os.Stderr, "conformance: server %v not ready: %v\n", cmd.Args, err)
		return 1
	}
	return m.Run()
}

// serverCommand builds the command line of the server under test.
func serverCommand(dir, sock string) (*exec.Cmd, error) {
	switch target {
	case "go":
		bin := filepath.Join(dir, "gogarden")
		goBin, err := exec.LookPath("go")
		if err != nil {
			goBin = "/usr/local/go/bin/go"
		}
		build := exec.Command(goBin, "build", "-o", bin, "./cmd/gogarden")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			return nil, fmt.Errorf("go build ./cmd/gogarden: %w", err)
		}
		return exec.Command(bin, "-socket", sock), nil
	case "ts":
		command := os.Getenv("GARDEND")
		if command == "" {
			repo, err := filepath.Abs("../..")
			if err != nil {
				return nil, err
			}
			command = "node " + filepath.Join(repo, "packages/server/dist/bin/gardend.js")
		}
		fields := strings.Fields(command)
		args := append(fields[1:], "--backend", "fake", "--bind-socket", sock, "--log-level", "error")
		return exec.Command(fields[0], args...), nil
	default:
		return nil, fmt.Errorf("GARDEN_TARGET must be ts or go, got %q", target)
	}
}

// waitInBackground reaps cmd and returns a channel closed once it has exited. Closing (rather
// than sending) lets any number of waiters observe the exit.
func waitInBackground(cmd *exec.Cmd) <-chan struct{} {
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	return exited
}

func waitForPing(exited <-chan struct{}, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var lastErr error
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return errors.New("server exited early")
		default:
		}
		if lastErr = gardenClient.Ping(); lastErr == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return lastErr
}

// stopServer ends the server we started, by PID: SIGTERM, then SIGKILL after 5 s.
func stopServer(pid int, exited <-chan struct{}) {
	select {
	case <-exited:
		return // already reaped: the pid may belong to someone else by now
	default:
	}
	_ = syscall.Kill(pid, syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(pid, syscall.SIGKILL)
		<-exited
	}
}

// newContainer creates a container that is destroyed when the test ends.
func newContainer(t *testing.T, spec garden.ContainerSpec) garden.Container {
	t.Helper()
	c, err := gardenClient.Create(spec)
	if err != nil {
		t.Fatalf("Create(%+v): %v", spec, err)
	}
	t.Cleanup(func() {
		err := gardenClient.Destroy(c.Handle())
		var notFound garden.ContainerNotFoundError
		if err != nil && !errors.As(err, &notFound) {
			t.Errorf("Destroy(%q): %v", c.Handle(), err)
		}
	})
	return c
}

// uniqueHandle returns a handle no other test uses.
func uniqueHandle(t *testing.T) string {
	return fmt.Sprintf("%s-%d", strings.ReplaceAll(t.Name(), "/", "-"), time.Now().UnixNano())
}
