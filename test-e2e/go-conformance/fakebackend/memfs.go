package fakebackend

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
	"sync"
	"time"
)

// node is one file or directory of a container's in-memory filesystem.
type node struct {
	dir     bool
	mode    int64
	data    []byte
	link    string
	modTime time.Time
}

// memFS is a container filesystem: absolute clean paths to nodes.
type memFS struct {
	mu    sync.Mutex
	nodes map[string]*node
}

func newMemFS() *memFS {
	now := time.Now()
	fs := &memFS{nodes: map[string]*node{}}
	for _, d := range []string{"/", "/tmp", "/root", "/home"} {
		fs.nodes[d] = &node{dir: true, mode: 0o755, modTime: now}
	}
	fs.nodes["/tmp"].mode = 0o1777
	return fs
}

// mkdirAllLocked creates p and its parents; it fails when a parent is a file.
func (fs *memFS) mkdirAllLocked(p string, mode int64, mtime time.Time) error {
	if n, ok := fs.nodes[p]; ok {
		if !n.dir {
			return fmt.Errorf("mkdir %s: not a directory", p)
		}
		return nil
	}
	if p != "/" {
		if err := fs.mkdirAllLocked(path.Dir(p), 0o755, mtime); err != nil {
			return err
		}
	}
	fs.nodes[p] = &node{dir: true, mode: mode, modTime: mtime}
	return nil
}

// errNotExist and errIsDir are the texts cat prints, as busybox does.
var (
	errNotExist = errors.New("No such file or directory")
	errIsDir    = errors.New("Is a directory")
)

// readFile returns a regular file's contents.
func (fs *memFS) readFile(p string) ([]byte, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	n, ok := fs.nodes[path.Clean(p)]
	switch {
	case !ok:
		return nil, errNotExist
	case n.dir:
		return nil, errIsDir
	}
	return append([]byte(nil), n.data...), nil
}

// mkdirAll creates p and its parents.
func (fs *memFS) mkdirAll(p string) error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.mkdirAllLocked(path.Clean(p), 0o755, time.Now())
}

// homeOf is a user's home directory, where processes start and relative paths point:
// /root for root (the default user), /home/USER otherwise.
func homeOf(user string) string {
	if user == "" || user == "root" || strings.HasPrefix(user, "0:") || user == "0" {
		return "/root"
	}
	return "/home/" + user
}

// resolvePath makes p absolute against dir.
func resolvePath(dir, p string) string {
	if path.IsAbs(p) {
		return path.Clean(p)
	}
	return path.Join(dir, p)
}

// extract unpacks a tar stream under dest, creating dest when missing.
func (fs *memFS) extract(dest string, r io.Reader) error {
	if r == nil {
		return errors.New("no tar stream")
	}
	dest = path.Clean(dest)
	fs.mu.Lock()
	err := fs.mkdirAllLocked(dest, 0o755, time.Now())
	fs.mu.Unlock()
	if err != nil {
		return err
	}
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("stream in: %w", err)
		}
		if escapes(hdr.Name) {
			return fmt.Errorf("stream in: illegal path in archive: %s", hdr.Name)
		}
		target := path.Join(dest, path.Clean("/"+hdr.Name))
		mtime := hdr.ModTime
		if mtime.IsZero() {
			mtime = time.Now()
		}
		var body []byte
		if hdr.Typeflag == tar.TypeReg {
			body, err = io.ReadAll(tr)
			if err != nil {
				return fmt.Errorf("stream in: %w", err)
			}
		}
		fs.mu.Lock()
		err = fs.putLocked(target, hdr, body, mtime)
		fs.mu.Unlock()
		if err != nil {
			return err
		}
	}
}

// escapes reports whether an archive member name climbs above the extraction directory.
func escapes(name string) bool {
	depth := 0
	for _, part := range strings.Split(name, "/") {
		switch part {
		case "", ".":
		case "..":
			depth--
			if depth < 0 {
				return true
			}
		default:
			depth++
		}
	}
	return false
}

func (fs *memFS) putLocked(target string, hdr *tar.Header, body []byte, mtime time.Time) error {
	mode := hdr.Mode & 0o7777
	switch hdr.Typeflag {
	case tar.TypeDir:
		if err := fs.mkdirAllLocked(target, mode, mtime); err != nil {
			return err
		}
		fs.nodes[target].mode = mode
		return nil
	case tar.TypeReg, tar.TypeSymlink:
		if err := fs.mkdirAllLocked(path.Dir(target), 0o755, mtime); err != nil {
			return err
		}
		if n, ok := fs.nodes[target]; ok && n.dir {
			return fmt.Errorf("stream in: %s is a directory", target)
		}
		fs.nodes[target] = &node{mode: mode, data: body, link: hdr.Linkname, modTime: mtime}
		return nil
	default:
		// Devices, fifos and hard links are not simulated; skip them as an unprivileged
		// extraction would.
		return nil
	}
}

// archive builds a tar of p with Guardian's layout: "dir" → "dir/", "dir/file";
// "dir/" → "./", "./file"; a file → its base name.
func (fs *memFS) archive(p string) (io.ReadCloser, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	clean := path.Clean(p)
	n, ok := fs.nodes[clean]
	if !ok {
		return nil, fmt.Errorf("stat %s: no such file or directory", p)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	prefix := path.Base(clean)
	if clean == "/" || (strings.HasSuffix(p, "/") && n.dir) {
		prefix = "."
	}
	if err := fs.writeEntryLocked(tw, prefix, n); err != nil {
		return nil, err
	}
	if n.dir {
		children := fs.descendantsLocked(clean)
		for _, child := range children {
			rel := strings.TrimPrefix(child, clean)
			rel = strings.TrimPrefix(rel, "/")
			if err := fs.writeEntryLocked(tw, prefix+"/"+rel, fs.nodes[child]); err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return io.NopCloser(&buf), nil
}

func (fs *memFS) descendantsLocked(dir string) []string {
	base := dir
	if base != "/" {
		base += "/"
	}
	var out []string
	for name := range fs.nodes {
		if name != dir && strings.HasPrefix(name, base) {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

func (fs *memFS) writeEntryLocked(tw *tar.Writer, name string, n *node) error {
	hdr := &tar.Header{Name: name, Mode: n.mode, ModTime: n.modTime}
	switch {
	case n.dir:
		hdr.Typeflag = tar.TypeDir
		hdr.Name += "/"
	case n.link != "":
		hdr.Typeflag = tar.TypeSymlink
		hdr.Linkname = n.link
	default:
		hdr.Typeflag = tar.TypeReg
		hdr.Size = int64(len(n.data))
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	if hdr.Typeflag == tar.TypeReg {
		_, err := tw.Write(n.data)
		return err
	}
	return nil
}

// usage returns the bytes and inode count of the filesystem.
func (fs *memFS) usage() (uint64, uint64) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	var bytesUsed uint64
	for _, n := range fs.nodes {
		bytesUsed += uint64(len(n.data))
	}
	return bytesUsed, uint64(len(fs.nodes))
}
