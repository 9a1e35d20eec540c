// Package fakebackend is an in-memory garden.Backend with the same simulated semantics as
// garden-ts's TypeScript backend-fake. It lets the canonical Go Garden server run without
// containers, so both Go peers (client and server) can be compared against garden-ts.
package fakebackend

import (
	"crypto/rand"
	"fmt"
	"sort"
	"sync"
	"time"

	"code.cloudfoundry.org/garden"
)

// FirstHostPort is the first host port handed out by NetIn when the caller asks for port 0.
const FirstHostPort uint32 = 61001

// Backend is the in-memory garden.Backend. The zero value is not usable; call New.
type Backend struct {
	mu         sync.Mutex
	containers map[string]*Container
	usedPorts  map[uint32]string
	nextPort   uint32
	capacity   garden.Capacity
}

var _ garden.Backend = (*Backend)(nil)

// New returns an empty backend.
func New() *Backend {
	return &Backend{
		containers: map[string]*Container{},
		usedPorts:  map[uint32]string{},
		nextPort:   FirstHostPort,
		capacity: garden.Capacity{
			MemoryInBytes:          8 << 30,
			DiskInBytes:            64 << 30,
			SchedulableDiskInBytes: 64 << 30,
			MaxContainers:          256,
		},
	}
}

// Start implements garden.Backend; there is nothing to start.
func (b *Backend) Start() error { return nil }

// Stop implements garden.Backend by killing every simulated process.
func (b *Backend) Stop() error {
	b.mu.Lock()
	cs := make([]*Container, 0, len(b.containers))
	for _, c := range b.containers {
		cs = append(cs, c)
	}
	b.mu.Unlock()
	for _, c := range cs {
		c.signalAll(garden.SignalKill)
	}
	return nil
}

// GraceTime returns the grace time stored at Create or by SetGraceTime.
func (b *Backend) GraceTime(c garden.Container) time.Duration {
	fc, ok := c.(*Container)
	if !ok {
		return 0
	}
	fc.mu.Lock()
	defer fc.mu.Unlock()
	return fc.graceTime
}

// Ping always succeeds.
func (b *Backend) Ping() error { return nil }

// Capacity reports fixed, non-zero capacity.
func (b *Backend) Capacity() (garden.Capacity, error) { return b.capacity, nil }

// Create registers a container. An empty handle gets a generated one.
func (b *Backend) Create(spec garden.ContainerSpec) (garden.Container, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	handle := spec.Handle
	if handle == "" {
		handle = newID()
	}
	if _, exists := b.containers[handle]; exists {
		return nil, fmt.Errorf("Handle '%s' already in use", handle)
	}
	if err := checkContainerLimits(spec.Limits); err != nil {
		return nil, err
	}
	c := newContainer(b, handle, spec)
	c.subnet = b.allocSubnetLocked()
	for _, in := range spec.NetIn {
		host, ctr := b.allocPortLocked(handle, in.HostPort, in.ContainerPort)
		c.mappedPorts = append(c.mappedPorts, garden.PortMapping{HostPort: host, ContainerPort: ctr})
	}
	b.containers[handle] = c
	return c, nil
}

// allocPortLocked picks the host port (next free from FirstHostPort when 0) and the container
// port (the host port when 0). The caller holds b.mu.
func (b *Backend) allocPortLocked(handle string, host, ctr uint32) (uint32, uint32) {
	if host == 0 {
		for {
			candidate := b.nextPort
			b.nextPort++
			if _, used := b.usedPorts[candidate]; !used {
				host = candidate
				break
			}
		}
	}
	b.usedPorts[host] = handle
	if ctr == 0 {
		ctr = host
	}
	return host, ctr
}

// allocSubnetLocked returns the lowest subnet index no container uses. The caller holds b.mu.
func (b *Backend) allocSubnetLocked() int {
	used := map[int]bool{}
	for _, c := range b.containers {
		used[c.subnet] = true
	}
	for i := 0; ; i++ {
		if !used[i] {
			return i
		}
	}
}

// Destroy kills the container's processes and forgets it.
func (b *Backend) Destroy(handle string) error {
	b.mu.Lock()
	c, ok := b.containers[handle]
	if !ok {
		b.mu.Unlock()
		return garden.ContainerNotFoundError{Handle: handle}
	}
	delete(b.containers, handle)
	for port, owner := range b.usedPorts {
		if owner == handle {
			delete(b.usedPorts, port)
		}
	}
	b.mu.Unlock()
	c.signalAll(garden.SignalKill)
	return nil
}

// Containers lists the containers whose properties contain every filter pair, sorted by handle.
func (b *Backend) Containers(filter garden.Properties) ([]garden.Container, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	handles := make([]string, 0, len(b.containers))
	for h, c := range b.containers {
		if c.matches(filter) {
			handles = append(handles, h)
		}
	}
	sort.Strings(handles)
	out := make([]garden.Container, 0, len(handles))
	for _, h := range handles {
		out = append(out, b.containers[h])
	}
	return out, nil
}

// Lookup finds a container by handle.
func (b *Backend) Lookup(handle string) (garden.Container, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	c, ok := b.containers[handle]
	if !ok {
		return nil, garden.ContainerNotFoundError{Handle: handle}
	}
	return c, nil
}

// BulkInfo returns an entry per handle; unknown handles carry a ContainerNotFoundError.
func (b *Backend) BulkInfo(handles []string) (map[string]garden.ContainerInfoEntry, error) {
	out := make(map[string]garden.ContainerInfoEntry, len(handles))
	for _, h := range handles {
		c, err := b.Lookup(h)
		if err != nil {
			out[h] = garden.ContainerInfoEntry{Err: &garden.Error{Err: err}}
			continue
		}
		info, err := c.Info()
		if err != nil {
			out[h] = garden.ContainerInfoEntry{Err: &garden.Error{Err: err}}
			continue
		}
		out[h] = garden.ContainerInfoEntry{Info: info}
	}
	return out, nil
}

// BulkMetrics returns an entry per handle; unknown handles carry a ContainerNotFoundError.
func (b *Backend) BulkMetrics(handles []string) (map[string]garden.ContainerMetricsEntry, error) {
	out := make(map[string]garden.ContainerMetricsEntry, len(handles))
	for _, h := range handles {
		c, err := b.Lookup(h)
		if err != nil {
			out[h] = garden.ContainerMetricsEntry{Err: &garden.Error{Err: err}}
			continue
		}
		m, err := c.Metrics()
		if err != nil {
			out[h] = garden.ContainerMetricsEntry{Err: &garden.Error{Err: err}}
			continue
		}
		out[h] = garden.ContainerMetricsEntry{Metrics: m}
	}
	return out, nil
}

// netIn allocates a port mapping for a container.
func (b *Backend) netIn(handle string, host, ctr uint32) (uint32, uint32) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.allocPortLocked(handle, host, ctr)
}

// newID returns a random RFC 4122 version 4 UUID.
func newID() string {
	var u [16]byte
	if _, err := rand.Read(u[:]); err != nil {
		panic(err)
	}
	u[6] = (u[6] & 0x0f) | 0x40
	u[8] = (u[8] & 0x3f) | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}
