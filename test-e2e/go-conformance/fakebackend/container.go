package fakebackend

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"code.cloudfoundry.org/garden"
)

// Container is one simulated container: state, properties, limits, ports, rules, files and
// processes, all in memory.
type Container struct {
	backend *Backend
	handle  string
	created time.Time

	mu          sync.Mutex
	spec        garden.ContainerSpec
	graceTime   time.Duration
	state       string
	properties  garden.Properties
	limits      garden.Limits
	mappedPorts []garden.PortMapping
	netOut      []garden.NetOutRule
	processes   map[string]*process
	order       []string
	fs          *memFS
	subnet      int
}

var _ garden.Container = (*Container)(nil)

func newContainer(b *Backend, handle string, spec garden.ContainerSpec) *Container {
	props := garden.Properties{}
	for k, v := range spec.Properties {
		props[k] = v
	}
	return &Container{
		backend:    b,
		handle:     handle,
		created:    time.Now(),
		spec:       spec,
		graceTime:  spec.GraceTime,
		state:      "active",
		properties: props,
		limits:     spec.Limits,
		netOut:     append([]garden.NetOutRule(nil), spec.NetOut...),
		processes:  map[string]*process{},
		fs:         newMemFS(),
	}
}

// Handle returns the container's handle.
func (c *Container) Handle() string { return c.handle }

func (c *Container) matches(filter garden.Properties) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, v := range filter {
		if got, ok := c.properties[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// Stop marks the container stopped and signals every running process
// (terminate, or kill when kill is true).
func (c *Container) Stop(kill bool) error {
	c.mu.Lock()
	c.state = "stopped"
	c.mu.Unlock()
	sig := garden.SignalTerminate
	if kill {
		sig = garden.SignalKill
	}
	c.signalAll(sig)
	return nil
}

func (c *Container) signalAll(sig garden.Signal) {
	c.mu.Lock()
	procs := make([]*process, 0, len(c.processes))
	for _, p := range c.processes {
		procs = append(procs, p)
	}
	c.mu.Unlock()
	for _, p := range procs {
		_ = p.Signal(sig)
	}
}

// Info reports state, running process ids, properties and mapped ports.
func (c *Container) Info() (garden.ContainerInfo, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	props := garden.Properties{}
	for k, v := range c.properties {
		props[k] = v
	}
	running := []string{}
	for _, id := range c.order {
		if !c.processes[id].exited() {
			running = append(running, id)
		}
	}
	return garden.ContainerInfo{
		State:         c.state,
		Events:        []string{},
		HostIP:        subnetIP(c.subnet, 1),
		ContainerIP:   subnetIP(c.subnet, 2),
		ExternalIP:    "127.0.0.1",
		ContainerPath: "/var/vcap/data/garden/depot/" + c.handle,
		ProcessIDs:    running,
		Properties:    props,
		MappedPorts:   append([]garden.PortMapping{}, c.mappedPorts...),
	}, nil
}

// StreamIn extracts a tar stream under spec.Path (relative paths are relative to the user's home).
func (c *Container) StreamIn(spec garden.StreamInSpec) error {
	return c.fs.extract(resolvePath(homeOf(spec.User), spec.Path), spec.TarStream)
}

// StreamOut archives spec.Path with Guardian's layout; a trailing "/" archives the contents.
func (c *Container) StreamOut(spec garden.StreamOutSpec) (io.ReadCloser, error) {
	p := resolvePath(homeOf(spec.User), spec.Path)
	if strings.HasSuffix(spec.Path, "/") && p != "/" {
		p += "/"
	}
	return c.fs.archive(p)
}

// CurrentBandwidthLimits returns the limits given at Create.
func (c *Container) CurrentBandwidthLimits() (garden.BandwidthLimits, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.limits.Bandwidth, nil
}

// CurrentCPULimits reports the effective shares S (the weight, else limit_in_shares) as
// LimitInShares with Weight 0, as Guardian does on cgroup v1 (linux-backend-reference §6.2).
func (c *Container) CurrentCPULimits() (garden.CPULimits, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	shares := c.limits.CPU.Weight
	if shares == 0 {
		shares = c.limits.CPU.LimitInShares
	}
	return garden.CPULimits{LimitInShares: shares}, nil
}

// CurrentDiskLimits returns the limits given at Create.
func (c *Container) CurrentDiskLimits() (garden.DiskLimits, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.limits.Disk, nil
}

// CurrentMemoryLimits returns the limits given at Create.
func (c *Container) CurrentMemoryLimits() (garden.MemoryLimits, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.limits.Memory, nil
}

// NetIn maps a host port (0 = next free from 61001) to a container port (0 = the host port).
func (c *Container) NetIn(hostPort, containerPort uint32) (uint32, uint32, error) {
	host, ctr := c.backend.netIn(c.handle, hostPort, containerPort)
	c.mu.Lock()
	c.mappedPorts = append(c.mappedPorts, garden.PortMapping{HostPort: host, ContainerPort: ctr})
	c.mu.Unlock()
	return host, ctr, nil
}

// NetOut records a rule.
func (c *Container) NetOut(rule garden.NetOutRule) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.netOut = append(c.netOut, rule)
	return nil
}

// BulkNetOut records several rules.
func (c *Container) BulkNetOut(rules []garden.NetOutRule) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.netOut = append(c.netOut, rules...)
	return nil
}

// NetOutRules returns the recorded rules (for tests).
func (c *Container) NetOutRules() []garden.NetOutRule {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]garden.NetOutRule(nil), c.netOut...)
}

// Run starts a simulated process.
func (c *Container) Run(spec garden.ProcessSpec, pio garden.ProcessIO) (garden.Process, error) {
	if l := spec.OverrideContainerLimits; l != nil {
		if err := checkCPUAndMemory(l.Memory, l.CPU); err != nil {
			return nil, err
		}
	}
	prog, err := resolveProgram(spec)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	id := spec.ID
	if id == "" {
		id = newID()
	}
	if _, dup := c.processes[id]; dup {
		c.mu.Unlock()
		return nil, fmt.Errorf("process ID '%s' already in use", id)
	}
	env := mergeEnv(c.spec.Env, spec.Env)
	// Like Guardian, a process starts in its user's home unless told otherwise, and its working
	// directory is created when missing.
	dir := resolvePath(homeOf(spec.User), spec.Dir)
	if spec.Dir == "" {
		dir = homeOf(spec.User)
	}
	if err := c.fs.mkdirAll(dir); err != nil {
		c.mu.Unlock()
		return nil, err
	}
	p := newProcess(id, spec.TTY)
	p.attach(pio)
	c.processes[id] = p
	c.order = append(c.order, id)
	c.mu.Unlock()
	go p.run(prog, runContext{args: spec.Args, env: env, dir: dir, user: spec.User, stdin: pio.Stdin, fs: c.fs})
	return p.handleFor(pio), nil
}

// Attach connects new IO to a running or finished process.
func (c *Container) Attach(processID string, pio garden.ProcessIO) (garden.Process, error) {
	c.mu.Lock()
	p, ok := c.processes[processID]
	c.mu.Unlock()
	if !ok {
		return nil, garden.ProcessNotFoundError{ProcessID: processID}
	}
	p.attach(pio)
	return p.handleFor(pio), nil
}

// Metrics reports plausible numbers derived from the container's state.
func (c *Container) Metrics() (garden.Metrics, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	running := uint64(0)
	for _, p := range c.processes {
		if !p.exited() {
			running++
		}
	}
	age := time.Since(c.created)
	usage := uint64(age.Nanoseconds() / 1000)
	memLimit := c.limits.Memory.LimitInBytes
	if memLimit == 0 {
		memLimit = c.backend.capacity.MemoryInBytes
	}
	bytesUsed, inodes := c.fs.usage()
	return garden.Metrics{
		MemoryStat: garden.ContainerMemoryStat{
			Cache:                   4096,
			Rss:                     (1 << 20) * (1 + running),
			TotalRss:                (1 << 20) * (1 + running),
			HierarchicalMemoryLimit: memLimit,
			TotalUsageTowardLimit:   (1 << 20) * (1 + running),
		},
		CPUStat:  garden.ContainerCPUStat{Usage: usage, User: usage / 2, System: usage / 4},
		DiskStat: garden.ContainerDiskStat{TotalBytesUsed: bytesUsed, TotalInodesUsed: inodes, ExclusiveBytesUsed: bytesUsed, ExclusiveInodesUsed: inodes},
		// The simulated network moves no packets, but a networked container has stats.
		NetworkStat: &garden.ContainerNetworkStat{},
		// The container's init counts as one, as in a real container.
		PidStat: garden.ContainerPidStat{Current: running + 1, Max: c.limits.Pid.Max},
		Age:     age,
		// Guardian reports the CPU entitlement derived from the weight; keep it proportional.
		CPUEntitlement: c.limits.CPU.Weight,
	}, nil
}

// SetGraceTime stores a new grace time.
func (c *Container) SetGraceTime(graceTime time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.graceTime = graceTime
	return nil
}

// Properties returns a copy of every property.
func (c *Container) Properties() (garden.Properties, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := garden.Properties{}
	for k, v := range c.properties {
		out[k] = v
	}
	return out, nil
}

// Property returns one property or an error naming it.
func (c *Container) Property(name string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.properties[name]
	if !ok {
		return "", fmt.Errorf("property does not exist: %s", name)
	}
	return v, nil
}

// SetProperty sets one property.
func (c *Container) SetProperty(name, value string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.properties[name] = value
	return nil
}

// RemoveProperty removes one property; removing a missing one is an error.
func (c *Container) RemoveProperty(name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.properties[name]; !ok {
		return fmt.Errorf("property does not exist: %s", name)
	}
	delete(c.properties, name)
	return nil
}

// mergeEnv appends the process env to the container env; a process entry whose key is already
// present replaces that entry in place, as Guardian does.
func mergeEnv(containerEnv, processEnv []string) []string {
	out := append([]string{}, containerEnv...)
	index := map[string]int{}
	for i, kv := range out {
		index[envKey(kv)] = i
	}
	for _, kv := range processEnv {
		if i, ok := index[envKey(kv)]; ok {
			out[i] = kv
			continue
		}
		index[envKey(kv)] = len(out)
		out = append(out, kv)
	}
	return out
}

func envKey(kv string) string {
	if i := strings.IndexByte(kv, '='); i >= 0 {
		return kv[:i]
	}
	return kv
}

// subnetIP returns address offset of the container's /30 in 10.254.0.0/22.
func subnetIP(subnet, offset int) string {
	n := subnet*4 + offset
	return fmt.Sprintf("10.254.%d.%d", n>>8, n&255)
}
