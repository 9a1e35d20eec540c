package fakebackend

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"code.cloudfoundry.org/garden"
)

func TestMergeEnvOverridesInPlace(t *testing.T) {
	got := mergeEnv([]string{"A=1", "B=2"}, []string{"C=3", "A=9", "FLAG"})
	want := []string{"A=9", "B=2", "C=3", "FLAG"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("mergeEnv = %v, want %v", got, want)
	}
}

func TestEscapes(t *testing.T) {
	for name, want := range map[string]bool{
		"a/b": false, "./a": false, "a/../b": false, "../x": true, "a/../../x": true, "/abs/../..": true, "": false,
	} {
		if got := escapes(name); got != want {
			t.Errorf("escapes(%q) = %v, want %v", name, got, want)
		}
	}
}

func tarOf(t *testing.T, files map[string]string) *bytes.Reader {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, body := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(tw, body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return bytes.NewReader(buf.Bytes())
}

func names(t *testing.T, r io.Reader) []string {
	t.Helper()
	var out []string
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, hdr.Name)
	}
}

func TestStreamOutLayout(t *testing.T) {
	fs := newMemFS()
	if err := fs.extract("/data", tarOf(t, map[string]string{"d/a": "1", "d/sub/b": "2"})); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string][]string{
		"/data/d":   {"d/", "d/a", "d/sub/", "d/sub/b"},
		"/data/d/":  {"./", "./a", "./sub/", "./sub/b"},
		"/data/d/a": {"a"},
	} {
		rc, err := fs.archive(path)
		if err != nil {
			t.Fatalf("archive(%q): %v", path, err)
		}
		if got := names(t, rc); !reflect.DeepEqual(got, want) {
			t.Errorf("archive(%q) = %v, want %v", path, got, want)
		}
	}
	if _, err := fs.archive("/missing"); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("archive(/missing) error = %v", err)
	}
	if err := fs.extract("/data", tarOf(t, map[string]string{"../evil": "x"})); err == nil {
		t.Error("an archive entry climbing out of the destination was accepted")
	}
}

func TestProcessSemantics(t *testing.T) {
	b := New()
	c, err := b.Create(garden.ContainerSpec{Env: []string{"A=1"}})
	if err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	p, err := c.Run(garden.ProcessSpec{ID: "p1", Path: "/bin/echo", Args: []string{"a", "b"}}, garden.ProcessIO{Stdout: &out, Stderr: &errOut})
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := p.Wait(); code != 0 || out.String() != "a b\n" {
		t.Errorf("echo: code %d, stdout %q", code, out.String())
	}
	if _, err := c.Run(garden.ProcessSpec{ID: "p1", Path: "true"}, garden.ProcessIO{}); err == nil || err.Error() != "process ID 'p1' already in use" {
		t.Errorf("duplicate id error = %v", err)
	}
	var enf garden.ExecutableNotFoundError
	if _, err := c.Run(garden.ProcessSpec{Path: "nonesuch"}, garden.ProcessIO{}); !errors.As(err, &enf) {
		t.Errorf("unknown command error = %#v", err)
	}
	sleeper, err := c.Run(garden.ProcessSpec{Path: "sleep", Args: []string{"10"}}, garden.ProcessIO{})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_ = sleeper.Signal(garden.SignalTerminate)
	if code, _ := sleeper.Wait(); code != 143 || time.Since(start) > time.Second {
		t.Errorf("terminated sleep: code %d after %v", code, time.Since(start))
	}
	// Output nobody received is kept for the next Attach.
	late, err := c.Run(garden.ProcessSpec{ID: "late", Path: "sh", Args: []string{"-c", "echo 'to stderr' >&2"}}, garden.ProcessIO{})
	if err != nil {
		t.Fatal(err)
	}
	_, _ = late.Wait()
	var lateErr bytes.Buffer
	attached, err := c.Attach("late", garden.ProcessIO{Stderr: &lateErr})
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := attached.Wait(); code != 0 || lateErr.String() != "to stderr\n" {
		t.Errorf("attach after exit: code %d, stderr %q", code, lateErr.String())
	}
	var pnf garden.ProcessNotFoundError
	if _, err := c.Attach("nope", garden.ProcessIO{}); !errors.As(err, &pnf) || pnf.ProcessID != "nope" {
		t.Errorf("attach unknown error = %#v", err)
	}
}

func TestPortsAndHandles(t *testing.T) {
	b := New()
	c, err := b.Create(garden.ContainerSpec{Handle: "h", NetIn: []garden.NetIn{{ContainerPort: 8080}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Create(garden.ContainerSpec{Handle: "h"}); err == nil || err.Error() != "Handle 'h' already in use" {
		t.Errorf("duplicate handle error = %v", err)
	}
	host, ctr, _ := c.NetIn(0, 0)
	info, _ := c.Info()
	want := []garden.PortMapping{{HostPort: FirstHostPort, ContainerPort: 8080}, {HostPort: FirstHostPort + 1, ContainerPort: FirstHostPort + 1}}
	if host != FirstHostPort+1 || ctr != host || !reflect.DeepEqual(info.MappedPorts, want) {
		t.Errorf("NetIn(0,0) = %d,%d; MappedPorts %+v", host, ctr, info.MappedPorts)
	}
	if err := b.Destroy("h"); err != nil {
		t.Fatal(err)
	}
	var cnf garden.ContainerNotFoundError
	if err := b.Destroy("h"); !errors.As(err, &cnf) {
		t.Errorf("second destroy error = %#v", err)
	}
	generated, _ := b.Create(garden.ContainerSpec{})
	if len(generated.Handle()) != 36 {
		t.Errorf("generated handle %q is not a UUID", generated.Handle())
	}
}

func TestCatFilesAndHome(t *testing.T) {
	b := New()
	c, err := b.Create(garden.ContainerSpec{})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.StreamIn(garden.StreamInSpec{Path: "rel", TarStream: tarOf(t, map[string]string{"f.txt": "hello"})}); err != nil {
		t.Fatal(err)
	}
	run := func(spec garden.ProcessSpec) (string, string, int) {
		var out, errOut bytes.Buffer
		p, err := c.Run(spec, garden.ProcessIO{Stdout: &out, Stderr: &errOut})
		if err != nil {
			t.Fatal(err)
		}
		code, _ := p.Wait()
		return out.String(), errOut.String(), code
	}
	if out, _, _ := run(garden.ProcessSpec{Path: "pwd"}); out != "/root\n" {
		t.Errorf("pwd = %q, want /root", out)
	}
	if out, _, code := run(garden.ProcessSpec{Path: "cat", Args: []string{"rel/f.txt", "/root/rel/f.txt"}}); out != "hellohello" || code != 0 {
		t.Errorf("cat files = %q, %d", out, code)
	}
	if _, errOut, code := run(garden.ProcessSpec{Path: "cat", Args: []string{"nope"}}); code != 1 || errOut != "cat: nope: No such file or directory\n" {
		t.Errorf("cat missing = %q, %d", errOut, code)
	}
	if out, _, _ := run(garden.ProcessSpec{Path: "pwd", Dir: "new/dir"}); out != "/root/new/dir\n" {
		t.Errorf("pwd in a relative new dir = %q", out)
	}
	rc, err := c.StreamOut(garden.StreamOutSpec{Path: "/root/new"})
	if err != nil {
		t.Fatalf("the working directory was not created: %v", err)
	}
	if got := names(t, rc); !reflect.DeepEqual(got, []string{"new/", "new/dir/"}) {
		t.Errorf("StreamOut(/root/new) = %v", got)
	}
}
