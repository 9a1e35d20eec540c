package conformance

// Server lifecycle for the conformance suite. The target is chosen with GARDEN_TARGET:
//
//	ts (default)  GARDEND (default "node <repo>/packages/gardend/dist/bin/gardend.js")
//	              started with --backend fake --bind-socket SOCK --log-level error
//	go            the canonical Go server over fakebackend (cmd/gogarden), built on the fly
//	linux         GARDEND started as root with --backend linux --depot TEMP
//	              --default-rootfs <repo>/.rootfs/busybox (built by scripts/build-rootfs.sh when
//	              missing), inside a test-made "host" network namespace (nsenter --net; joined by a
//	              veth to an "outside" one holding its default route), so its containers' bridges,
//	              veths and nft tables never touch the machine's own; every container left at the
//	              end is destroyed through the client, and the depot and that namespace must then
//	              hold nothing of ours. Not being root is a failure, not a skip.
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
	// target names the server under test ("ts", "go" or "linux").
	target string
)

// onLinux reports whether the server under test runs the Linux backend (real containers).
func onLinux() bool { return target == "linux" }

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

	var depot string
	if target == "linux" {
		// The depot gets its own directory so that it is only removed after checking that no
		// container (and no mount) is left in it.
		if depot, err = os.MkdirTemp("", "garden-conformance-depot-"); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if err := makeTestNetwork(); err != nil {
			fmt.Fprintln(os.Stderr, "conformance:", err)
			removeDepot(depot)
			deleteTestNetwork()
			return 1
		}
		defer deleteTestNetwork()
	}

	cmd, err := serverCommand(dir, socketPath, depot)
	if err != nil {
		fmt.Fprintln(os.Stderr, "conformance:", err)
		removeDepot(depot)
		return 1
	}
	cmd.Stdout = os.Stderr
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "conformance: start %v: %v\n", cmd.Args, err)
		removeDepot(depot)
		return 1
	}
	exited := waitInBackground(cmd)

	gardenClient = client.New(connection.New("unix", socketPath))
	code := 1
	if err := waitForPing(exited, 20*time.Second); err != nil {
		fmt.Fprintf(os.Stderr, "conformance: server %v not ready: %v\n", cmd.Args, err)
	} else {
		code = m.Run()
	}
	if depot != "" {
		select {
		case <-exited:
			// gardend died during the run: its containers (init processes, cgroups, mounts) are
			// still in the depot. A fresh gardend told to destroy them at startup cleans up.
			fmt.Fprintln(os.Stderr, "conformance: gardend exited during the run; restarting it with --destroy-containers-on-startup to clean the depot")
			code = 1
			cmd, exited = restartForCleanup(cmd)
		default:
		}
		// gardend keeps its containers on SIGTERM (they survive restarts), so destroy them first.
		if err := destroyAllContainers(); err != nil {
			fmt.Fprintln(os.Stderr, "conformance: cleanup:", err)
			code = 1
		}
	}
	if cmd != nil {
		stopServer(cmd.Process.Pid, exited)
	}
	if depot != "" {
		if err := checkDepotEmpty(depot); err != nil {
			fmt.Fprintln(os.Stderr, "conformance:", err)
			code = 1
		}
		if err := checkNetworkEmpty(); err != nil {
			fmt.Fprintln(os.Stderr, "conformance:", err)
			code = 1
		}
		removeDepot(depot)
	}
	return code
}

// serverCommand builds the command line of the server under test (depot: linux target only).
func serverCommand(dir, sock, depot string) (*exec.Cmd, error) {
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
		fields, err := gardendCommand()
		if err != nil {
			return nil, err
		}
		args := append(fields[1:], "--backend", "fake", "--bind-socket", sock, "--log-level", "error")
		return exec.Command(fields[0], args...), nil
	case "linux":
		if os.Geteuid() != 0 {
			return nil, errors.New("GARDEN_TARGET=linux needs root (the linux backend creates namespaces, cgroups and mounts)")
		}
		rootfs, err := defaultRootfs()
		if err != nil {
			return nil, err
		}
		fields, err := gardendCommand()
		if err != nil {
			return nil, err
		}
		// Our own cgroup parent: at startup gardend removes the cgroups under its parent that its
		// depot does not know, which would hit other servers sharing the default "garden".
		args := append(fields[1:], "--backend", "linux", "--depot", depot, "--default-rootfs", rootfs,
			"--cgroup-parent", cgroupParent(depot), "--bind-socket", sock, "--log-level", "error")
		// Only the network namespace differs from ours (no mount namespace, unlike ip netns exec).
		return exec.Command("nsenter", append([]string{"--net=/run/netns/" + hostNetns, fields[0]}, args...)...), nil
	default:
		return nil, fmt.Errorf("GARDEN_TARGET must be ts, go or linux, got %q", target)
	}
}

// gardendCommand is GARDEND split into fields, by default the built gardend of this repo.
func gardendCommand() ([]string, error) {
	command := os.Getenv("GARDEND")
	if command == "" {
		repo, err := filepath.Abs("../..")
		if err != nil {
			return nil, err
		}
		command = "node " + filepath.Join(repo, "packages/gardend/dist/bin/gardend.js")
	}
	fields := strings.Fields(command)
	if len(fields) == 0 {
		return nil, errors.New("GARDEND is blank")
	}
	return fields, nil
}

// defaultRootfs returns <repo>/.rootfs/busybox, building it with scripts/build-rootfs.sh when
// it is missing.
func defaultRootfs() (string, error) {
	repo, err := filepath.Abs("../..")
	if err != nil {
		return "", err
	}
	rootfs := filepath.Join(repo, ".rootfs", "busybox")
	if _, err := os.Stat(filepath.Join(rootfs, "bin", "busybox")); err == nil {
		return rootfs, nil
	}
	build := exec.Command("bash", filepath.Join(repo, "scripts", "build-rootfs.sh"), rootfs)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return "", fmt.Errorf("scripts/build-rootfs.sh: %w", err)
	}
	return rootfs, nil
}

// restartForCleanup starts died (a gardend that exited) again with --destroy-containers-on-startup
// and waits until it serves; it returns nil when that fails.
func restartForCleanup(died *exec.Cmd) (*exec.Cmd, <-chan struct{}) {
	cmd := exec.Command(died.Path, append(died.Args[1:], "--destroy-containers-on-startup")...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "conformance: restarting gardend:", err)
		return nil, nil
	}
	exited := waitInBackground(cmd)
	if err := waitForPing(exited, 20*time.Second); err != nil {
		fmt.Fprintln(os.Stderr, "conformance: restarted gardend not ready:", err)
	}
	return cmd, exited
}

// destroyAllContainers destroys every container the server under test still has.
func destroyAllContainers() error {
	containers, err := gardenClient.Containers(nil)
	if err != nil {
		return fmt.Errorf("listing containers: %w", err)
	}
	var errs []error
	for _, c := range containers {
		if err := destroyAndWait(c.Handle(), 30*time.Second); err != nil {
			errs = append(errs, fmt.Errorf("destroy %q: %w", c.Handle(), err))
		}
	}
	return errors.Join(errs...)
}

// cgroupParent is the cgroup directory of the server using depot (unique per run).
func cgroupParent(depot string) string {
	return "garden-conformance-" + strings.TrimPrefix(filepath.Base(depot), "garden-conformance-depot-")
}

// checkDepotEmpty fails when a container entry or a mount is left in the depot, or a container
// cgroup under the run's cgroup parent; it removes the (then empty) cgroup parent directories.
func checkDepotEmpty(depot string) error {
	var errs []error
	if mounts := mountsUnder(depot); len(mounts) > 0 {
		errs = append(errs, fmt.Errorf("mounts left under the depot %s: %v", depot, mounts))
	}
	entries, err := os.ReadDir(filepath.Join(depot, "containers"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	if len(entries) > 0 {
		names := make([]string, 0, len(entries))
		for _, e := range entries {
			names = append(names, e.Name())
		}
		errs = append(errs, fmt.Errorf("container entries left in the depot %s: %v", depot, names))
	}
	// cgroup v1 has one directory per hierarchy, v2 a single one.
	parents, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", "*", cgroupParent(depot)))
	parents = append(parents, filepath.Join("/sys/fs/cgroup", cgroupParent(depot)))
	for _, dir := range parents {
		children, err := os.ReadDir(dir)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		for _, c := range children {
			if c.IsDir() {
				errs = append(errs, fmt.Errorf("cgroup left: %s", filepath.Join(dir, c.Name())))
			}
		}
		if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("removing cgroup parent: %w", err))
		}
	}
	return errors.Join(errs...)
}

// removeDepot removes the depot unless something is still mounted under it: os.RemoveAll
// crosses mount points, and a container's bind mount may be a host directory.
func removeDepot(depot string) {
	if depot == "" {
		return
	}
	if mounts := mountsUnder(depot); len(mounts) > 0 {
		fmt.Fprintf(os.Stderr, "conformance: NOT removing %s, still mounted: %v\n", depot, mounts)
		return
	}
	if err := os.RemoveAll(depot); err != nil {
		fmt.Fprintln(os.Stderr, "conformance: removing the depot:", err)
	}
}

// mountsUnder lists the mount points of this mount namespace at or below dir.
func mountsUnder(dir string) []string {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return []string{"(cannot read /proc/self/mountinfo: " + err.Error() + ")"}
	}
	var found []string
	for _, line := range strings.Split(string(data), "\n") {
		fields := strings.Fields(line)
		if len(fields) < 5 {
			continue
		}
		// Field 5 is the mount point, with spaces and the like octal-escaped.
		if mp := fields[4]; mp == dir || strings.HasPrefix(mp, dir+"/") {
			found = append(found, mp)
		}
	}
	return found
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
		if err := destroyAndWait(c.Handle(), 30*time.Second); err != nil {
			t.Errorf("Destroy(%q): %v", c.Handle(), err)
		}
	})
	return c
}

// destroyAndWait destroys a container, treating "unknown handle" as done. A destroy already in
// flight (a grace timer reaping it; real containers take a moment to tear down) answers with
// Guardian's generic "container already being destroyed": wait until that one has finished, so
// nothing is still being torn down when the server stops.
func destroyAndWait(handle string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		err := gardenClient.Destroy(handle)
		var notFound garden.ContainerNotFoundError
		if err == nil || errors.As(err, &notFound) {
			return nil
		}
		if !strings.Contains(err.Error(), "container already being destroyed") || time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// userProperties drops the properties a backend owns itself (Guardian reports its bookkeeping,
// e.g. garden.state, garden.grace-time, rundmc.*, among the container's properties).
func userProperties(props garden.Properties) garden.Properties {
	out := garden.Properties{}
	for k, v := range props {
		if !strings.HasPrefix(k, "garden.") && !strings.HasPrefix(k, "rundmc.") && !strings.HasPrefix(k, "kawasaki.") {
			out[k] = v
		}
	}
	return out
}

// uniqueHandle returns a handle no other test uses.
func uniqueHandle(t *testing.T) string {
	return fmt.Sprintf("%s-%d", strings.ReplaceAll(t.Name(), "/", "-"), time.Now().UnixNano())
}
