package fakebackend

import (
	"errors"
	"fmt"
	"io"
	"path"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"code.cloudfoundry.org/garden"
)

// Exit statuses of a process ended by a signal, as a shell reports them (128 + signal number).
const (
	exitTerminated = 128 + 15
	exitKilled     = 128 + 9
)

// runContext is what a simulated program sees.
type runContext struct {
	args  []string
	env   []string
	dir   string
	user  string
	stdin io.Reader
	fs    *memFS
	// stdout/stderr fan output out to every attached ProcessIO.
	stdout, stderr io.Writer
	// signalled is closed when a terminate or kill arrives; sig then holds its exit status.
	signalled <-chan struct{}
	// window reports the TTY's current size (rows, columns), and false without a TTY.
	window func() (garden.WindowSize, bool)
}

// program runs to completion and returns an exit status. A program that blocks must return
// promptly once ctx.signalled is closed.
type program func(ctx runContext) int

var (
	shExit   = regexp.MustCompile(`^\s*exit\s+(\d+)\s*$`)
	shStderr = regexp.MustCompile(`^\s*echo\s+(.*?)\s*>&2\s*$`)
)

// resolveProgram maps a ProcessSpec onto a simulated program, or ExecutableNotFoundError.
func resolveProgram(spec garden.ProcessSpec) (program, error) {
	notFound := garden.ExecutableNotFoundError{
		Message: fmt.Sprintf("exec: %q: executable file not found in $PATH", spec.Path),
	}
	switch path.Base(spec.Path) {
	case "echo":
		return func(ctx runContext) int {
			_, _ = io.WriteString(ctx.stdout, strings.Join(ctx.args, " ")+"\n")
			return 0
		}, nil
	case "cat":
		if len(spec.Args) > 0 {
			return catFiles, nil
		}
		return runCat, nil
	case "true":
		return func(runContext) int { return 0 }, nil
	case "false":
		return func(runContext) int { return 1 }, nil
	case "pwd":
		return func(ctx runContext) int {
			_, _ = io.WriteString(ctx.stdout, ctx.dir+"\n")
			return 0
		}, nil
	case "env":
		return func(ctx runContext) int {
			for _, kv := range ctx.env {
				_, _ = io.WriteString(ctx.stdout, kv+"\n")
			}
			return 0
		}, nil
	case "sleep":
		if len(spec.Args) != 1 {
			return nil, notFound
		}
		secs, err := strconv.ParseFloat(spec.Args[0], 64)
		if err != nil || secs < 0 {
			return func(ctx runContext) int {
				_, _ = fmt.Fprintf(ctx.stderr, "sleep: invalid number '%s'\n", spec.Args[0])
				return 1
			}, nil
		}
		d := time.Duration(secs * float64(time.Second))
		return func(ctx runContext) int {
			t := time.NewTimer(d)
			defer t.Stop()
			select {
			case <-t.C:
				return 0
			case <-ctx.signalled:
				return -1
			}
		}, nil
	case "stty":
		// Only `stty size`: the rows and columns of the process's terminal.
		if len(spec.Args) != 1 || spec.Args[0] != "size" {
			return nil, notFound
		}
		return func(ctx runContext) int {
			size, ok := ctx.window()
			if !ok {
				_, _ = io.WriteString(ctx.stderr, "stty: standard input: Not a tty\n")
				return 1
			}
			_, _ = fmt.Fprintf(ctx.stdout, "%d %d\n", size.Rows, size.Columns)
			return 0
		}, nil
	case "sh":
		if len(spec.Args) != 2 || spec.Args[0] != "-c" {
			return nil, notFound
		}
		script := spec.Args[1]
		if strings.Contains(script, ";") {
			return sequence(script)
		}
		if m := shExit.FindStringSubmatch(script); m != nil {
			code, _ := strconv.Atoi(m[1])
			return func(runContext) int { return code & 0xff }, nil
		}
		if m := shStderr.FindStringSubmatch(script); m != nil {
			text := unquote(m[1])
			return func(ctx runContext) int {
				_, _ = io.WriteString(ctx.stderr, text+"\n")
				return 0
			}, nil
		}
		return func(ctx runContext) int {
			_, _ = fmt.Fprintf(ctx.stderr, "sh: unsupported script: %s\n", script)
			return 127
		}, nil
	}
	return nil, notFound
}

// sequence runs `a; b; c` (simple commands of the other simulated programs, split on blanks)
// one after the other; the status is the last one's.
func sequence(script string) (program, error) {
	var steps []program
	var args [][]string
	for _, part := range strings.Split(script, ";") {
		fields := strings.Fields(part)
		if len(fields) == 0 {
			continue
		}
		prog, err := resolveProgram(garden.ProcessSpec{Path: fields[0], Args: fields[1:]})
		if err != nil || fields[0] == "sh" {
			return func(ctx runContext) int {
				_, _ = fmt.Fprintf(ctx.stderr, "sh: unsupported script: %s\n", script)
				return 127
			}, nil
		}
		steps = append(steps, prog)
		args = append(args, fields[1:])
	}
	return func(ctx runContext) int {
		status := 0
		for i, step := range steps {
			select {
			case <-ctx.signalled:
				return -1
			default:
			}
			own := ctx
			own.args = args[i]
			status = step(own)
		}
		return status
	}, nil
}

// unquote strips one level of matching single or double quotes, as sh would.
func unquote(s string) string {
	if len(s) >= 2 && (s[0] == '"' || s[0] == '\'') && s[len(s)-1] == s[0] {
		return s[1 : len(s)-1]
	}
	return s
}

// catFiles writes the named files (relative to the working directory; "-" = stdin) to stdout.
func catFiles(ctx runContext) int {
	status := 0
	for _, name := range ctx.args {
		if name == "-" {
			if code := runCat(ctx); code != 0 {
				return code
			}
			continue
		}
		data, err := ctx.fs.readFile(resolvePath(ctx.dir, name))
		if err != nil {
			_, _ = fmt.Fprintf(ctx.stderr, "cat: %s: %s\n", name, err)
			status = 1
			continue
		}
		_, _ = ctx.stdout.Write(data)
	}
	return status
}

// runCat copies stdin to stdout until EOF (exit 0), a read error (exit 1) or a signal.
func runCat(ctx runContext) int {
	if ctx.stdin == nil {
		<-ctx.signalled
		return -1
	}
	done := make(chan int, 1)
	go func() {
		// A large buffer keeps the number of output chunks low: the Go server queues at most
		// 4000 chunks per stream and drops the rest.
		buf := make([]byte, 1<<20)
		for {
			n, err := ctx.stdin.Read(buf)
			if n > 0 {
				_, _ = ctx.stdout.Write(buf[:n])
			}
			if errors.Is(err, io.EOF) {
				done <- 0
				return
			}
			if err != nil {
				done <- 1
				return
			}
		}
	}()
	select {
	case code := <-done:
		return code
	case <-ctx.signalled:
		return -1
	}
}

// process is the shared state of one simulated process; every Run/Attach gets a handle on it.
type process struct {
	id string

	mu       sync.Mutex
	tty      bool
	win      garden.WindowSize
	sinks    []garden.ProcessIO
	pendOut  []byte
	pendErr  []byte
	sigOnce  sync.Once
	sigCh    chan struct{}
	sigCode  int
	done     chan struct{}
	exitCode int
}

func newProcess(id string, tty *garden.TTYSpec) *process {
	p := &process{id: id, tty: tty != nil, win: garden.WindowSize{Columns: 80, Rows: 24}, sigCh: make(chan struct{}), done: make(chan struct{})}
	if tty != nil {
		p.resize(tty.WindowSize)
	}
	return p
}

// resize takes the non-zero fields of a window size (Guardian's default is 80×24).
func (p *process) resize(size *garden.WindowSize) {
	if size == nil {
		return
	}
	if size.Columns != 0 {
		p.win.Columns = size.Columns
	}
	if size.Rows != 0 {
		p.win.Rows = size.Rows
	}
}

func (p *process) window() (garden.WindowSize, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.win, p.tty
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// attach adds an output destination and hands it any output nobody has received yet.
func (p *process) attach(pio garden.ProcessIO) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sinks = append(p.sinks, pio)
	if pio.Stdout != nil && len(p.pendOut) > 0 {
		_, _ = pio.Stdout.Write(p.pendOut)
		p.pendOut = nil
	}
	if pio.Stderr != nil && len(p.pendErr) > 0 {
		_, _ = pio.Stderr.Write(p.pendErr)
		p.pendErr = nil
	}
}

// fanout writes one stream to every attached writer, or keeps it for a later Attach.
type fanout struct {
	p      *process
	stderr bool
}

func (f fanout) Write(b []byte) (int, error) {
	p := f.p
	p.mu.Lock()
	defer p.mu.Unlock()
	delivered := false
	for _, s := range p.sinks {
		w := s.Stdout
		if f.stderr {
			w = s.Stderr
		}
		if w != nil {
			_, _ = w.Write(b)
			delivered = true
		}
	}
	if !delivered {
		if f.stderr {
			p.pendErr = append(p.pendErr, b...)
		} else {
			p.pendOut = append(p.pendOut, b...)
		}
	}
	return len(b), nil
}

func (p *process) run(prog program, ctx runContext) {
	ctx.stdout = fanout{p: p}
	ctx.stderr = fanout{p: p, stderr: true}
	if p.tty {
		// A TTY has one output stream: stderr goes to stdout.
		ctx.stderr = ctx.stdout
	}
	ctx.signalled = p.sigCh
	ctx.window = p.window
	code := prog(ctx)
	select {
	case <-p.sigCh:
		code = p.sigCode
	default:
	}
	p.mu.Lock()
	p.exitCode = code
	p.mu.Unlock()
	close(p.done)
}

// Signal ends a running process with 143 (terminate) or 137 (kill); later signals are ignored.
func (p *process) Signal(sig garden.Signal) error {
	if p.exited() {
		return nil
	}
	p.sigOnce.Do(func() {
		p.mu.Lock()
		p.sigCode = exitTerminated
		if sig == garden.SignalKill {
			p.sigCode = exitKilled
		}
		p.mu.Unlock()
		close(p.sigCh)
	})
	return nil
}

// processHandle is the garden.Process returned by one Run or Attach.
type processHandle struct {
	p *process
}

func (p *process) handleFor(garden.ProcessIO) garden.Process { return processHandle{p: p} }

func (h processHandle) ID() string { return h.p.id }

func (h processHandle) Wait() (int, error) {
	<-h.p.done
	h.p.mu.Lock()
	defer h.p.mu.Unlock()
	return h.p.exitCode, nil
}

func (h processHandle) SetTTY(spec garden.TTYSpec) error {
	h.p.mu.Lock()
	defer h.p.mu.Unlock()
	if h.p.tty {
		h.p.resize(spec.WindowSize)
	}
	return nil
}

func (h processHandle) Signal(sig garden.Signal) error { return h.p.Signal(sig) }
