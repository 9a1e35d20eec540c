package conformance

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"code.cloudfoundry.org/garden"
)

type runResult struct {
	stdout, stderr string
	code           int
}

// runCollect runs spec with the given stdin (nil = none) and waits for it.
func runCollect(t *testing.T, c garden.Container, spec garden.ProcessSpec, stdin io.Reader) runResult {
	t.Helper()
	var stdout, stderr bytes.Buffer
	proc, err := c.Run(spec, garden.ProcessIO{Stdin: stdin, Stdout: &stdout, Stderr: &stderr})
	if err != nil {
		t.Fatalf("Run(%s %v): %v", spec.Path, spec.Args, err)
	}
	code := waitWithin(t, proc, 30*time.Second)
	return runResult{stdout: stdout.String(), stderr: stderr.String(), code: code}
}

// waitWithin waits for the process, failing the test after timeout.
func waitWithin(t *testing.T, proc garden.Process, timeout time.Duration) int {
	t.Helper()
	type result struct {
		code int
		err  error
	}
	done := make(chan result, 1)
	go func() {
		code, err := proc.Wait()
		done <- result{code, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			t.Fatalf("Wait(%s): %v", proc.ID(), r.err)
		}
		return r.code
	case <-time.After(timeout):
		t.Fatalf("process %s did not exit within %v", proc.ID(), timeout)
		return -1
	}
}

func TestRunStdoutAndStderr(t *testing.T) {
	c := newContainer(t, garden.ContainerSpec{})
	out := runCollect(t, c, garden.ProcessSpec{Path: "echo", Args: []string{"hello", "world"}}, nil)
	if out.stdout != "hello world\n" || out.stderr != "" || out.code != 0 {
		t.Errorf("echo hello world = %+v", out)
	}
	out = runCollect(t, c, garden.ProcessSpec{Path: "sh", Args: []string{"-c", "echo oops >&2"}}, nil)
	if out.stderr != "oops\n" || out.stdout != "" || out.code != 0 {
		t.Errorf("sh -c 'echo oops >&2' = %+v", out)
	}
}

func TestRunExitCodes(t *testing.T) {
	c := newContainer(t, garden.ContainerSpec{})
	cases := []struct {
		spec garden.ProcessSpec
		want int
	}{
		{garden.ProcessSpec{Path: "true"}, 0},
		{garden.ProcessSpec{Path: "false"}, 1},
		{garden.ProcessSpec{Path: "sh", Args: []string{"-c", "exit 0"}}, 0},
		{garden.ProcessSpec{Path: "sh", Args: []string{"-c", "exit 42"}}, 42},
		{garden.ProcessSpec{Path: "sh", Args: []string{"-c", "exit 255"}}, 255},
	}
	for _, tc := range cases {
		if got := runCollect(t, c, tc.spec, nil).code; got != tc.want {
			t.Errorf("%s %v exited %d, want %d", tc.spec.Path, tc.spec.Args, got, tc.want)
		}
	}
}

func TestRunStdinUntilEOF(t *testing.T) {
	c := newContainer(t, garden.ContainerSpec{})
	out := runCollect(t, c, garden.ProcessSpec{Path: "cat"}, strings.NewReader("line one\nline two\n"))
	if out.stdout != "line one\nline two\n" || out.code != 0 {
		t.Fatalf("cat = %+v", out)
	}
	out = runCollect(t, c, garden.ProcessSpec{Path: "cat"}, strings.NewReader(""))
	if out.stdout != "" || out.code != 0 {
		t.Fatalf("cat of empty stdin = %+v", out)
	}
}

// TestRunLargePayloads pushes 8 MiB through stdin and back out through stdout. The payload is
// text: the Go client carries stdin inside JSON strings, which are not binary-safe (§7.4).
func TestRunLargePayloads(t *testing.T) {
	c := newContainer(t, garden.ContainerSpec{})
	raw := make([]byte, 6<<20)
	if _, err := rand.Read(raw); err != nil {
		t.Fatal(err)
	}
	payload := []byte(base64.StdEncoding.EncodeToString(raw))[:8<<20]
	want := sha256.Sum256(payload)

	hasher := sha256.New()
	counter := &countingWriter{w: hasher}
	proc, err := c.Run(garden.ProcessSpec{Path: "cat"}, garden.ProcessIO{
		Stdin:  bytes.NewReader(payload),
		Stdout: counter,
		Stderr: io.Discard,
	})
	if err != nil {
		t.Fatalf("Run cat: %v", err)
	}
	if code := waitWithin(t, proc, 60*time.Second); code != 0 {
		t.Fatalf("cat exited %d", code)
	}
	if counter.n != int64(len(payload)) {
		t.Fatalf("stdout carried %d bytes, want %d", counter.n, len(payload))
	}
	if got := hasher.Sum(nil); !bytes.Equal(got, want[:]) {
		t.Fatalf("stdout sha256 %x, want %x", got, want)
	}
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func TestRunEnvAndDir(t *testing.T) {
	c := newContainer(t, garden.ContainerSpec{Env: []string{"CONTAINER=1"}})
	out := runCollect(t, c, garden.ProcessSpec{Path: "env", Env: []string{"PROCESS=2"}}, nil)
	if i, j := strings.Index(out.stdout, "CONTAINER=1\n"), strings.Index(out.stdout, "PROCESS=2\n"); i < 0 || j < 0 || i > j {
		t.Errorf("env output %q: want CONTAINER=1 before PROCESS=2", out.stdout)
	}
	out = runCollect(t, c, garden.ProcessSpec{Path: "pwd", Dir: "/tmp"}, nil)
	if out.stdout != "/tmp\n" || out.code != 0 {
		t.Errorf("pwd in /tmp = %+v", out)
	}
}

func TestSignals(t *testing.T) {
	c := newContainer(t, garden.ContainerSpec{})
	for _, tc := range []struct {
		signal garden.Signal
		want   int
	}{{garden.SignalTerminate, 143}, {garden.SignalKill, 137}} {
		// No stdin: once stdin EOF is sent the Go server stops reading signals (§7.4).
		proc, err := c.Run(garden.ProcessSpec{Path: "sleep", Args: []string{"30"}}, garden.ProcessIO{})
		if err != nil {
			t.Fatalf("Run sleep: %v", err)
		}
		if err := proc.Signal(tc.signal); err != nil {
			t.Fatalf("Signal(%d): %v", tc.signal, err)
		}
		if got := waitWithin(t, proc, 10*time.Second); got != tc.want {
			t.Errorf("sleep after signal %d exited %d, want %d", tc.signal, got, tc.want)
		}
	}
}

func TestFractionalSleep(t *testing.T) {
	c := newContainer(t, garden.ContainerSpec{})
	start := time.Now()
	out := runCollect(t, c, garden.ProcessSpec{Path: "sleep", Args: []string{"0.2"}}, nil)
	if out.code != 0 {
		t.Fatalf("sleep 0.2 exited %d", out.code)
	}
	if elapsed := time.Since(start); elapsed < 150*time.Millisecond || elapsed > 5*time.Second {
		t.Fatalf("sleep 0.2 took %v", elapsed)
	}
}

// lockedBuffer is a bytes.Buffer safe to read while the client's stream goroutine writes it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

var sttySize = regexp.MustCompile(`(\d+) (\d+)`)

func TestTTYAndResize(t *testing.T) {
	c := newContainer(t, garden.ContainerSpec{})
	// Under a TTY stderr is merged into stdout (one terminal).
	out := runCollect(t, c, garden.ProcessSpec{
		Path: "sh", Args: []string{"-c", "echo on-the-tty >&2"},
		TTY: &garden.TTYSpec{WindowSize: &garden.WindowSize{Columns: 80, Rows: 24}},
	}, nil)
	if out.code != 0 || !strings.Contains(out.stdout, "on-the-tty") || out.stderr != "" {
		t.Errorf("stderr under a TTY = %+v, want it on stdout", out)
	}

	// The process sees the size given at Run, then the one SetTTY sets (stty size: rows columns).
	stdinR, stdinW := io.Pipe()
	var stdout lockedBuffer
	proc, err := c.Run(garden.ProcessSpec{
		Path: "sh", Args: []string{"-c", "stty size; cat; stty size"},
		TTY: &garden.TTYSpec{WindowSize: &garden.WindowSize{Columns: 80, Rows: 24}},
	}, garden.ProcessIO{Stdin: stdinR, Stdout: &stdout})
	if err != nil {
		t.Fatalf("Run with a TTY: %v", err)
	}
	for deadline := time.Now().Add(10 * time.Second); !sttySize.MatchString(stdout.String()); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no first stty size within 10s: %q", stdout.String())
		}
	}
	if err := proc.SetTTY(garden.TTYSpec{WindowSize: &garden.WindowSize{Columns: 132, Rows: 43}}); err != nil {
		t.Fatalf("SetTTY: %v", err)
	}
	// A SetTTY without a size changes nothing.
	if err := proc.SetTTY(garden.TTYSpec{}); err != nil {
		t.Fatalf("SetTTY without a size: %v", err)
	}
	_ = stdinW.Close() // cat ends; the second stty size runs after the resize
	if code := waitWithin(t, proc, 10*time.Second); code != 0 {
		t.Fatalf("stty size; cat; stty size exited %d: %q", code, stdout.String())
	}
	var sizes []string
	for _, m := range sttySize.FindAllStringSubmatch(stdout.String(), -1) {
		sizes = append(sizes, m[1]+"x"+m[2])
	}
	if !slices.Equal(sizes, []string{"24x80", "43x132"}) {
		t.Errorf("sizes seen by the process = %v (output %q), want [24x80 43x132]", sizes, stdout.String())
	}

	// A resize does not end the control stream: the process can still be signalled.
	proc, err = c.Run(garden.ProcessSpec{
		Path: "sleep", Args: []string{"30"},
		TTY: &garden.TTYSpec{WindowSize: &garden.WindowSize{Columns: 80, Rows: 24}},
	}, garden.ProcessIO{})
	if err != nil {
		t.Fatalf("Run sleep with TTY: %v", err)
	}
	if err := proc.SetTTY(garden.TTYSpec{WindowSize: &garden.WindowSize{Columns: 100, Rows: 50}}); err != nil {
		t.Fatalf("SetTTY: %v", err)
	}
	if err := proc.Signal(garden.SignalTerminate); err != nil {
		t.Fatalf("Signal: %v", err)
	}
	if code := waitWithin(t, proc, 10*time.Second); code != 143 {
		t.Fatalf("sleep after resize + terminate exited %d, want 143 (the resize must not end the control stream)", code)
	}
}

func TestProcessIDs(t *testing.T) {
	c := newContainer(t, garden.ContainerSpec{})
	p1, err := c.Run(garden.ProcessSpec{Path: "true"}, garden.ProcessIO{})
	if err != nil {
		t.Fatal(err)
	}
	p2, err := c.Run(garden.ProcessSpec{Path: "true"}, garden.ProcessIO{})
	if err != nil {
		t.Fatal(err)
	}
	if p1.ID() == "" || p1.ID() == p2.ID() {
		t.Errorf("generated process ids %q, %q must be non-empty and distinct", p1.ID(), p2.ID())
	}
	waitWithin(t, p1, 5*time.Second)
	waitWithin(t, p2, 5*time.Second)

	given, err := c.Run(garden.ProcessSpec{ID: "my-proc", Path: "sleep", Args: []string{"30"}}, garden.ProcessIO{})
	if err != nil {
		t.Fatalf("Run with id: %v", err)
	}
	defer func() { _ = given.Signal(garden.SignalKill); _, _ = given.Wait() }()
	if given.ID() != "my-proc" {
		t.Errorf("ID() = %q, want my-proc", given.ID())
	}
	_, err = c.Run(garden.ProcessSpec{ID: "my-proc", Path: "true"}, garden.ProcessIO{})
	if err == nil {
		t.Fatal("Run with a duplicate process id succeeded")
	}
	assertGeneric(t, err)
	if want := "process ID 'my-proc' already in use"; !strings.Contains(err.Error(), want) {
		t.Errorf("duplicate id error %q does not contain %q", err, want)
	}
}

func TestAttachRunning(t *testing.T) {
	c := newContainer(t, garden.ContainerSpec{})
	proc, err := c.Run(garden.ProcessSpec{ID: "attach-running", Path: "sleep", Args: []string{"0.5"}}, garden.ProcessIO{})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	var stdout bytes.Buffer
	attached, err := c.Attach("attach-running", garden.ProcessIO{Stdout: &stdout})
	if err != nil {
		t.Fatalf("Attach: %v", err)
	}
	if attached.ID() != "attach-running" {
		t.Errorf("attached ID() = %q", attached.ID())
	}
	if code := waitWithin(t, attached, 10*time.Second); code != 0 {
		t.Errorf("attached Wait = %d, want 0", code)
	}
	if code := waitWithin(t, proc, 10*time.Second); code != 0 {
		t.Errorf("original Wait = %d, want 0", code)
	}
}

func TestAttachSignalsRunningProcess(t *testing.T) {
	c := newContainer(t, garden.ContainerSpec{})
	proc, err := c.Run(garden.ProcessSpec{ID: "attach-signal", Path: "sleep", Args: []string{"30"}}, garden.ProcessIO{})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	attached, err := c.Attach("attach-signal", garden.ProcessIO{})
	if err != nil {
		t.Fatalf("Attach: %v", err)
	}
	if err := attached.Signal(garden.SignalKill); err != nil {
		t.Fatalf("Signal via attach: %v", err)
	}
	if code := waitWithin(t, proc, 10*time.Second); code != 137 {
		t.Errorf("original Wait = %d, want 137", code)
	}
	if code := waitWithin(t, attached, 10*time.Second); code != 137 {
		t.Errorf("attached Wait = %d, want 137", code)
	}
}

func TestAttachFinished(t *testing.T) {
	c := newContainer(t, garden.ContainerSpec{})
	proc, err := c.Run(garden.ProcessSpec{ID: "attach-done", Path: "sh", Args: []string{"-c", "exit 7"}}, garden.ProcessIO{})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if code := waitWithin(t, proc, 10*time.Second); code != 7 {
		t.Fatalf("Wait = %d, want 7", code)
	}
	for i := 0; i < 2; i++ {
		attached, err := c.Attach("attach-done", garden.ProcessIO{Stdout: io.Discard, Stderr: io.Discard})
		if err != nil {
			t.Fatalf("Attach to a finished process: %v", err)
		}
		if code := waitWithin(t, attached, 10*time.Second); code != 7 {
			t.Errorf("attach #%d Wait = %d, want 7", i+1, code)
		}
	}
}

func TestErrorTypes(t *testing.T) {
	c := newContainer(t, garden.ContainerSpec{})

	_, err := c.Attach("no-such-process", garden.ProcessIO{})
	var pnf garden.ProcessNotFoundError
	if !errors.As(err, &pnf) || pnf.ProcessID != "no-such-process" {
		t.Errorf("Attach(unknown) error = %#v, want ProcessNotFoundError{no-such-process}", err)
	} else if err.Error() != "unknown process: no-such-process" {
		t.Errorf("ProcessNotFoundError message = %q", err)
	}

	_, err = c.Run(garden.ProcessSpec{Path: "/no/such/binary"}, garden.ProcessIO{})
	var enf garden.ExecutableNotFoundError
	if !errors.As(err, &enf) {
		t.Errorf("Run(/no/such/binary) error = %#v, want ExecutableNotFoundError", err)
	} else if enf.Message == "" {
		t.Errorf("ExecutableNotFoundError has an empty message")
	}

	ghost, err := gardenClient.Lookup(c.Handle())
	if err != nil {
		t.Fatal(err)
	}
	if err := gardenClient.Destroy(c.Handle()); err != nil {
		t.Fatal(err)
	}
	for name, call := range map[string]func() error{
		"Run":        func() error { _, err := ghost.Run(garden.ProcessSpec{Path: "true"}, garden.ProcessIO{}); return err },
		"Attach":     func() error { _, err := ghost.Attach("x", garden.ProcessIO{}); return err },
		"Metrics":    func() error { _, err := ghost.Metrics(); return err },
		"Properties": func() error { _, err := ghost.Properties(); return err },
		"Stop":       func() error { return ghost.Stop(false) },
		"StreamOut":  func() error { _, err := ghost.StreamOut(garden.StreamOutSpec{Path: "/"}); return err },
		"SetGrace":   func() error { return ghost.SetGraceTime(time.Second) },
		"NetIn":      func() error { _, _, err := ghost.NetIn(0, 0); return err },
		"Limits":     func() error { _, err := ghost.CurrentMemoryLimits(); return err },
	} {
		err := call()
		var cnf garden.ContainerNotFoundError
		if !errors.As(err, &cnf) || cnf.Handle != c.Handle() {
			t.Errorf("%s on a destroyed container: error = %#v, want ContainerNotFoundError{%q}", name, err, c.Handle())
		}
	}
}

// assertContainerNotFound checks the error is a ContainerNotFoundError naming handle.
func assertContainerNotFound(t *testing.T, err error, handle string) {
	t.Helper()
	var cnf garden.ContainerNotFoundError
	if !errors.As(err, &cnf) {
		t.Fatalf("error = %#v, want ContainerNotFoundError{%q}", err, handle)
	}
	if cnf.Handle != handle || err.Error() != "unknown handle: "+handle {
		t.Fatalf("ContainerNotFoundError = %#v (%q), want handle %q", cnf, err, handle)
	}
}

// assertGeneric checks the error is none of Garden's typed errors (a generic envelope).
func assertGeneric(t *testing.T, err error) {
	t.Helper()
	var (
		cnf garden.ContainerNotFoundError
		pnf garden.ProcessNotFoundError
		enf garden.ExecutableNotFoundError
		sue garden.ServiceUnavailableError
		ure garden.UnrecoverableError
	)
	if errors.As(err, &cnf) || errors.As(err, &pnf) || errors.As(err, &enf) || errors.As(err, &sue) || errors.As(err, &ure) {
		t.Fatalf("error %#v is typed; want a generic error", err)
	}
}
