package conformance

// Quirks of the canonical server that a Go client can observe: grace-time "touch" semantics,
// SetGraceTime(0), the stdin-EOF signal quirk, path escaping of handles, and concurrency.

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"code.cloudfoundry.org/garden"
)

// Info "touches" a container (pauses and restarts its grace timer), so polling it keeps the
// container alive; BulkInfo does not touch, so polling it does not (protocol §9.3).
func TestGraceTimeTouchSemantics(t *testing.T) {
	touched := newContainer(t, garden.ContainerSpec{GraceTime: 500 * time.Millisecond})
	untouched := newContainer(t, garden.ContainerSpec{GraceTime: 500 * time.Millisecond})
	deadline := time.Now().Add(1500 * time.Millisecond)
	for time.Now().Before(deadline) {
		if _, err := touched.Info(); err != nil {
			t.Fatalf("Info on a container polled every 100 ms: %v (it was reaped while touched)", err)
		}
		if _, err := gardenClient.BulkInfo([]string{untouched.Handle()}); err != nil {
			t.Fatalf("BulkInfo: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	entries, err := gardenClient.BulkInfo([]string{untouched.Handle()})
	if err != nil {
		t.Fatal(err)
	}
	if entries[untouched.Handle()].Err == nil {
		t.Errorf("a container only polled with BulkInfo outlived its 500 ms grace time by 1 s")
	}
	waitGone(t, touched.Handle(), 5*time.Second)
}

// SetGraceTime(0) with no request in flight reaps the container almost at once (§9.4).
func TestSetGraceTimeZeroReapsImmediately(t *testing.T) {
	c := newContainer(t, garden.ContainerSpec{GraceTime: time.Hour})
	if err := c.SetGraceTime(0); err != nil {
		t.Fatalf("SetGraceTime(0): %v", err)
	}
	waitGone(t, c.Handle(), 2*time.Second)
}

// Once stdin EOF has been sent, Go's server stops reading the control stream, so a later signal
// is ignored and the process runs to completion (§7.4, TV-17 negative companion).
func TestSignalAfterStdinEOFIsIgnored(t *testing.T) {
	c := newContainer(t, garden.ContainerSpec{})
	proc, err := c.Run(garden.ProcessSpec{Path: "sleep", Args: []string{"0.5"}}, garden.ProcessIO{Stdin: strings.NewReader("x")})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	time.Sleep(100 * time.Millisecond) // let the client send the data and EOF messages
	if err := proc.Signal(garden.SignalKill); err != nil {
		t.Fatalf("Signal: %v", err)
	}
	if code := waitWithin(t, proc, 10*time.Second); code != 0 {
		t.Errorf("sleep 0.5 exited %d after a kill sent behind stdin EOF; Go's server ignores that signal (exit 0)", code)
	}
}

func TestHandlesNeedingEscapes(t *testing.T) {
	for _, handle := range []string{
		fmt.Sprintf("with space %d", time.Now().UnixNano()),
		fmt.Sprintf("unicode-é-✓-%d", time.Now().UnixNano()),
		fmt.Sprintf("punct~!$'()*,;:@-%d", time.Now().UnixNano()),
	} {
		c := newContainer(t, garden.ContainerSpec{Handle: handle})
		if c.Handle() != handle {
			t.Errorf("Create(%q) returned handle %q", handle, c.Handle())
		}
		info, err := c.Info()
		if err != nil || info.State != "active" {
			t.Errorf("Info(%q) = %+v, %v", handle, info, err)
		}
		if err := c.SetProperty("ünï cödé", "välue"); err != nil {
			t.Errorf("SetProperty on %q: %v", handle, err)
		}
		if v, err := c.Property("ünï cödé"); err != nil || v != "välue" {
			t.Errorf("Property on %q = %q, %v", handle, v, err)
		}
		found := handlesOf(t, garden.Properties{"ünï cödé": "välue"})
		if len(found) != 1 || found[0] != handle {
			t.Errorf("Containers(unicode filter) = %v, want [%q]", found, handle)
		}
		if err := c.SetProperty("ünï cödé", "other"); err != nil {
			t.Fatal(err)
		}
	}
}

func TestNetInExplicitHostPort(t *testing.T) {
	c := newContainer(t, garden.ContainerSpec{})
	host, ctr, err := c.NetIn(62123, 0)
	if err != nil {
		t.Fatalf("NetIn(62123, 0): %v", err)
	}
	if host != 62123 || ctr != 62123 {
		t.Errorf("NetIn(62123, 0) = %d, %d; want 62123, 62123", host, ctr)
	}
}

// A BulkInfo answer over ~2 KiB is chunked by Go's server; the Go client must read it either way.
func TestLargeBulkInfo(t *testing.T) {
	var handles []string
	for i := 0; i < 12; i++ {
		c := newContainer(t, garden.ContainerSpec{Properties: garden.Properties{"i": fmt.Sprint(i), "pad": strings.Repeat("p", 100)}})
		handles = append(handles, c.Handle())
	}
	entries, err := gardenClient.BulkInfo(handles)
	if err != nil {
		t.Fatalf("BulkInfo of 12: %v", err)
	}
	for i, h := range handles {
		if e := entries[h]; e.Err != nil || e.Info.Properties["i"] != fmt.Sprint(i) {
			t.Errorf("entry %q = %+v", h, e)
		}
	}
	metrics, err := gardenClient.BulkMetrics(handles)
	if err != nil || len(metrics) != len(handles) {
		t.Fatalf("BulkMetrics of 12: %d entries, %v", len(metrics), err)
	}
}

func TestConcurrentProcesses(t *testing.T) {
	c := newContainer(t, garden.ContainerSpec{})
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			var stdout bytes.Buffer
			word := fmt.Sprintf("proc-%d", i)
			proc, err := c.Run(garden.ProcessSpec{Path: "echo", Args: []string{word}}, garden.ProcessIO{Stdout: &stdout})
			if err != nil {
				errs <- err
				return
			}
			code, err := proc.Wait()
			if err != nil || code != 0 || stdout.String() != word+"\n" {
				errs <- fmt.Errorf("echo %s: code %d, stdout %q, err %v", word, code, stdout.String(), err)
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
