package conformance

import (
	"archive/tar"
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"testing"
	"time"

	"code.cloudfoundry.org/garden"
)

type tarEntry struct {
	name string
	dir  bool
	data []byte
}

func buildTar(t *testing.T, entries []tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		hdr := &tar.Header{Name: e.name, Mode: 0o644, ModTime: time.Unix(1700000000, 0), Typeflag: tar.TypeReg, Size: int64(len(e.data))}
		if e.dir {
			hdr.Typeflag, hdr.Mode, hdr.Size = tar.TypeDir, 0o755, 0
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if !e.dir {
			if _, err := tw.Write(e.data); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// readTar returns name → contents ("/"-suffixed names are directories, with nil contents).
func readTar(t *testing.T, r io.Reader) (map[string][]byte, []string) {
	t.Helper()
	tr := tar.NewReader(r)
	files := map[string][]byte{}
	var order []string
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files, order
		}
		if err != nil {
			t.Fatalf("reading tar: %v", err)
		}
		order = append(order, hdr.Name)
		if hdr.Typeflag == tar.TypeDir {
			files[hdr.Name] = nil
			continue
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatalf("reading %s: %v", hdr.Name, err)
		}
		files[hdr.Name] = data
	}
}

func streamOut(t *testing.T, c garden.Container, path string) map[string][]byte {
	t.Helper()
	rc, err := c.StreamOut(garden.StreamOutSpec{Path: path, User: "root"})
	if err != nil {
		t.Fatalf("StreamOut(%q): %v", path, err)
	}
	defer rc.Close()
	files, _ := readTar(t, rc)
	return files
}

func TestStreamInOutRoundTrip(t *testing.T) {
	c := newContainer(t, garden.ContainerSpec{})
	big := make([]byte, 300<<10)
	if _, err := rand.Read(big); err != nil {
		t.Fatal(err)
	}
	archive := buildTar(t, []tarEntry{
		{name: "d/", dir: true},
		{name: "d/a.txt", data: []byte("alpha\n")},
		{name: "d/sub/", dir: true},
		{name: "d/sub/big.bin", data: big},
	})
	// A bytes.Reader gets a Content-Length body; an io.Pipe gets a chunked one. Test both.
	if err := c.StreamIn(garden.StreamInSpec{Path: "/tmp/in", User: "root", TarStream: bytes.NewReader(archive)}); err != nil {
		t.Fatalf("StreamIn (Content-Length): %v", err)
	}
	pr, pw := io.Pipe()
	go func() { _, err := pw.Write(archive); pw.CloseWithError(err) }()
	if err := c.StreamIn(garden.StreamInSpec{Path: "/tmp/chunked", TarStream: pr}); err != nil {
		t.Fatalf("StreamIn (chunked): %v", err)
	}

	for _, base := range []string{"/tmp/in", "/tmp/chunked"} {
		got := streamOut(t, c, base+"/d")
		want := map[string][]byte{"d/": nil, "d/a.txt": []byte("alpha\n"), "d/sub/": nil, "d/sub/big.bin": big}
		if !sameTree(got, want) {
			t.Errorf("StreamOut(%s/d) entries = %v, want %v", base, names(got), names(want))
		}
		got = streamOut(t, c, base+"/d/")
		want = map[string][]byte{"./": nil, "./a.txt": []byte("alpha\n"), "./sub/": nil, "./sub/big.bin": big}
		if !sameTree(got, want) {
			t.Errorf("StreamOut(%s/d/) entries = %v, want %v", base, names(got), names(want))
		}
	}

	got := streamOut(t, c, "/tmp/in/d/a.txt")
	if !sameTree(got, map[string][]byte{"a.txt": []byte("alpha\n")}) {
		t.Errorf("StreamOut of a file = %v", names(got))
	}
}

func TestStreamOutMissingPath(t *testing.T) {
	c := newContainer(t, garden.ContainerSpec{})
	rc, err := c.StreamOut(garden.StreamOutSpec{Path: "/does/not/exist"})
	if err == nil {
		rc.Close()
		t.Fatal("StreamOut of a missing path succeeded")
	}
	assertGeneric(t, err)
}

func TestStreamInInvalidTar(t *testing.T) {
	c := newContainer(t, garden.ContainerSpec{})
	err := c.StreamIn(garden.StreamInSpec{Path: "/tmp", TarStream: bytes.NewReader(bytes.Repeat([]byte("not a tar "), 100))})
	if err == nil {
		t.Fatal("StreamIn of garbage succeeded")
	}
	assertGeneric(t, err)
}

func sameTree(got, want map[string][]byte) bool {
	if len(got) != len(want) {
		return false
	}
	for k, v := range want {
		g, ok := got[k]
		if !ok || !bytes.Equal(g, v) {
			return false
		}
	}
	return true
}

func names(m map[string][]byte) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
