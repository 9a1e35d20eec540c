package conformance

import (
	"bytes"
	"io"
	"testing"
	"time"

	"code.cloudfoundry.org/garden"
)

// TestCatThroughput reports how fast the Go client pushes text through `cat` on the target
// (for comparison with bench/cases/wire-run-cat.mjs). Run with -run CatThroughput -v.
func TestCatThroughput(t *testing.T) {
	if testing.Short() {
		t.Skip("throughput report; skipped with -short")
	}
	c := newContainer(t, garden.ContainerSpec{})
	chunk := bytes.Repeat([]byte("0123456789abcdefghijklmnopqrstuvwxyz"), (1<<20)/36+1)[:1<<20]
	const total = 64 << 20
	counter := &countingWriter{w: io.Discard}
	start := time.Now()
	proc, err := c.Run(garden.ProcessSpec{Path: "cat"}, garden.ProcessIO{
		Stdin:  io.LimitReader(repeatReader(chunk), total),
		Stdout: counter,
	})
	if err != nil {
		t.Fatal(err)
	}
	if code := waitWithin(t, proc, 120*time.Second); code != 0 {
		t.Fatalf("cat exited %d", code)
	}
	elapsed := time.Since(start)
	if counter.n != total {
		t.Fatalf("got %d of %d bytes", counter.n, total)
	}
	t.Logf("Go client → %s server: cat of %d MiB in %v = %.1f MiB/s", target, total>>20, elapsed, float64(total>>20)/elapsed.Seconds())
}

type repeatReaderT struct {
	chunk []byte
	off   int
}

func repeatReader(chunk []byte) io.Reader { return &repeatReaderT{chunk: chunk} }

func (r *repeatReaderT) Read(p []byte) (int, error) {
	n := copy(p, r.chunk[r.off:])
	r.off = (r.off + n) % len(r.chunk)
	return n, nil
}
