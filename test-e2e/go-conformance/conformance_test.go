package conformance

// The canonical Go Garden client drives the server under test through every route. Every
// assertion here must hold against the canonical Go server too (GARDEN_TARGET=go), which shows
// that the suite encodes Go behaviour rather than garden-ts behaviour.

import (
	"errors"
	"net"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"code.cloudfoundry.org/garden"
)

func TestPing(t *testing.T) {
	if err := gardenClient.Ping(); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}

func TestCapacity(t *testing.T) {
	capacity, err := gardenClient.Capacity()
	if err != nil {
		t.Fatalf("Capacity: %v", err)
	}
	if capacity.MemoryInBytes == 0 || capacity.DiskInBytes == 0 || capacity.MaxContainers == 0 {
		t.Fatalf("Capacity has zero fields: %+v", capacity)
	}
}

func TestCreateEmptySpecGeneratesHandle(t *testing.T) {
	a := newContainer(t, garden.ContainerSpec{})
	b := newContainer(t, garden.ContainerSpec{})
	if a.Handle() == "" || b.Handle() == "" || a.Handle() == b.Handle() {
		t.Fatalf("generated handles %q and %q must be non-empty and distinct", a.Handle(), b.Handle())
	}
	found, err := gardenClient.Lookup(a.Handle())
	if err != nil || found.Handle() != a.Handle() {
		t.Fatalf("Lookup(%q) = %v, %v", a.Handle(), found, err)
	}
	info, err := a.Info()
	if err != nil {
		t.Fatalf("Info: %v", err)
	}
	if info.State != "active" {
		t.Fatalf("State = %q, want active", info.State)
	}
}

func TestCreateFullSpec(t *testing.T) {
	handle := uniqueHandle(t)
	spec := garden.ContainerSpec{
		Handle:     handle,
		GraceTime:  time.Hour,
		Image:      garden.ImageRef{},
		BindMounts: []garden.BindMount{{SrcPath: "/tmp", DstPath: "/mnt/tmp", Mode: garden.BindMountModeRO, Origin: garden.BindMountOriginHost}},
		Network:    "10.0.0.0/30",
		Properties: garden.Properties{"owner": "me", "env": "test"},
		Env:        []string{"A=1", "B=two"},
		Privileged: false,
		Limits: garden.Limits{
			Bandwidth: garden.BandwidthLimits{RateInBytesPerSecond: 100, BurstRateInBytesPerSecond: 200},
			CPU:       garden.CPULimits{Weight: 512},
			Disk:      garden.DiskLimits{ByteHard: 1 << 30, Scope: garden.DiskLimitScopeExclusive},
			Memory:    garden.MemoryLimits{LimitInBytes: 64 << 20},
			Pid:       garden.PidLimits{Max: 100},
		},
	}
	c := newContainer(t, spec)
	if c.Handle() != handle {
		t.Fatalf("Handle = %q, want %q", c.Handle(), handle)
	}

	info, err := c.Info()
	if err != nil {
		t.Fatalf("Info: %v", err)
	}
	if info.Properties["owner"] != "me" || info.Properties["env"] != "test" {
		t.Fatalf("Info.Properties = %v", info.Properties)
	}

	mem, err := c.CurrentMemoryLimits()
	if err != nil || mem.LimitInBytes != 64<<20 {
		t.Fatalf("CurrentMemoryLimits = %+v, %v", mem, err)
	}
	// Guardian reports the effective shares as LimitInShares, Weight always 0 (reference §6.2);
	// on a pure cgroup v2 host it is the weight the kernel holds, W(512) = 59.
	cpu, err := c.CurrentCPULimits()
	if err != nil || cpu != (garden.CPULimits{LimitInShares: cpuSharesReadBack(512, 59)}) {
		t.Fatalf("CurrentCPULimits = %+v, %v; want LimitInShares %d, Weight 0", cpu, err, cpuSharesReadBack(512, 59))
	}
	disk, err := c.CurrentDiskLimits()
	if err != nil || disk.ByteHard != 1<<30 || disk.Scope != garden.DiskLimitScopeExclusive {
		t.Fatalf("CurrentDiskLimits = %+v, %v", disk, err)
	}
	bw, err := c.CurrentBandwidthLimits()
	if err != nil || bw.RateInBytesPerSecond != 100 || bw.BurstRateInBytesPerSecond != 200 {
		t.Fatalf("CurrentBandwidthLimits = %+v, %v", bw, err)
	}

	out := runCollect(t, c, garden.ProcessSpec{Path: "env", Env: []string{"C=3"}}, nil)
	if out.code != 0 {
		t.Fatalf("env exit = %d", out.code)
	}
	lines := strings.Split(strings.TrimSuffix(out.stdout, "\n"), "\n")
	ia, ib, ic := slices.Index(lines, "A=1"), slices.Index(lines, "B=two"), slices.Index(lines, "C=3")
	if ia < 0 || ib < 0 || ic < 0 || !(ia < ib && ib < ic) {
		t.Fatalf("env output %q: want container env A=1, B=two then process env C=3", out.stdout)
	}
}

// The networking parts of a ContainerSpec: NetIn mappings are made at create (from the port
// pool) and show in Info; NetOut rules are accepted.
func TestCreateSpecNetworking(t *testing.T) {
	code := garden.ICMPCode(0)
	c := newContainer(t, garden.ContainerSpec{
		NetOut: []garden.NetOutRule{{
			Protocol: garden.ProtocolICMP,
			Networks: []garden.IPRange{garden.IPRangeFromIP(net.ParseIP("8.8.8.8"))},
			ICMPs:    &garden.ICMPControl{Type: 8, Code: &code},
		}},
		NetIn: []garden.NetIn{{HostPort: 0, ContainerPort: 8080}},
	})
	info, err := c.Info()
	if err != nil {
		t.Fatalf("Info: %v", err)
	}
	if len(info.MappedPorts) != 1 || info.MappedPorts[0].ContainerPort != 8080 || info.MappedPorts[0].HostPort < 61001 {
		t.Fatalf("Info.MappedPorts = %+v, want one mapping to 8080 from a pool port >= 61001", info.MappedPorts)
	}
}

func TestCreateDuplicateHandle(t *testing.T) {
	handle := uniqueHandle(t)
	newContainer(t, garden.ContainerSpec{Handle: handle})
	_, err := gardenClient.Create(garden.ContainerSpec{Handle: handle})
	if err == nil {
		t.Fatal("second Create with the same handle succeeded")
	}
	assertGeneric(t, err)
	if want := "Handle '" + handle + "' already in use"; !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not contain %q", err, want)
	}
}

func TestListWithPropertyFilters(t *testing.T) {
	tag := uniqueHandle(t)
	a := newContainer(t, garden.ContainerSpec{Properties: garden.Properties{"suite": tag, "role": "web", "zone": "a"}})
	b := newContainer(t, garden.ContainerSpec{Properties: garden.Properties{"suite": tag, "role": "web", "zone": "b"}})
	c := newContainer(t, garden.ContainerSpec{Properties: garden.Properties{"suite": tag, "role": "db", "a b": "c&d"}})

	cases := []struct {
		filter garden.Properties
		want   []string
	}{
		{garden.Properties{"suite": tag}, []string{a.Handle(), b.Handle(), c.Handle()}},
		{garden.Properties{"suite": tag, "role": "web"}, []string{a.Handle(), b.Handle()}},
		{garden.Properties{"suite": tag, "role": "web", "zone": "b"}, []string{b.Handle()}},
		{garden.Properties{"suite": tag, "a b": "c&d"}, []string{c.Handle()}},
		{garden.Properties{"suite": tag, "role": "none"}, []string{}},
	}
	for _, tc := range cases {
		got := handlesOf(t, tc.filter)
		if !sameSet(got, tc.want) {
			t.Errorf("Containers(%v) = %v, want %v", tc.filter, got, tc.want)
		}
	}

	all := handlesOf(t, nil)
	for _, h := range []string{a.Handle(), b.Handle(), c.Handle()} {
		if !slices.Contains(all, h) {
			t.Errorf("Containers(nil) = %v misses %q", all, h)
		}
	}
}

func TestLookup(t *testing.T) {
	c := newContainer(t, garden.ContainerSpec{})
	found, err := gardenClient.Lookup(c.Handle())
	if err != nil || found.Handle() != c.Handle() {
		t.Fatalf("Lookup(%q) = %v, %v", c.Handle(), found, err)
	}
	_, err = gardenClient.Lookup("no-such-container")
	assertContainerNotFound(t, err, "no-such-container")
}

func TestInfo(t *testing.T) {
	c := newContainer(t, garden.ContainerSpec{Properties: garden.Properties{"k": "v"}})
	proc, err := c.Run(garden.ProcessSpec{ID: "info-sleeper", Path: "sleep", Args: []string{"30"}}, garden.ProcessIO{})
	if err != nil {
		t.Fatalf("Run sleep: %v", err)
	}
	defer func() { _ = proc.Signal(garden.SignalKill); _, _ = proc.Wait() }()
	hostPort, _, err := c.NetIn(0, 9090)
	if err != nil {
		t.Fatalf("NetIn: %v", err)
	}

	info, err := c.Info()
	if err != nil {
		t.Fatalf("Info: %v", err)
	}
	if info.State != "active" {
		t.Errorf("State = %q, want active", info.State)
	}
	if !slices.Contains(info.ProcessIDs, "info-sleeper") {
		t.Errorf("ProcessIDs = %v, want info-sleeper", info.ProcessIDs)
	}
	if !reflect.DeepEqual(userProperties(info.Properties), garden.Properties{"k": "v"}) {
		t.Errorf("Properties = %v", info.Properties)
	}
	if !slices.Contains(info.MappedPorts, garden.PortMapping{HostPort: hostPort, ContainerPort: 9090}) {
		t.Errorf("MappedPorts = %+v, want %d->9090", info.MappedPorts, hostPort)
	}

	ghost, err := gardenClient.Lookup(c.Handle())
	if err != nil {
		t.Fatal(err)
	}
	if err := gardenClient.Destroy(c.Handle()); err != nil {
		t.Fatalf("Destroy: %v", err)
	}
	_, err = ghost.Info()
	assertContainerNotFound(t, err, c.Handle())
}

func TestBulkInfo(t *testing.T) {
	a := newContainer(t, garden.ContainerSpec{Properties: garden.Properties{"n": "a"}})
	b := newContainer(t, garden.ContainerSpec{Properties: garden.Properties{"n": "b"}})
	entries, err := gardenClient.BulkInfo([]string{a.Handle(), b.Handle(), "bulk-missing"})
	if err != nil {
		t.Fatalf("BulkInfo: %v", err)
	}
	if len(entries) != 3 {
		t.Fatalf("BulkInfo returned %d entries, want 3: %+v", len(entries), entries)
	}
	for handle, want := range map[string]string{a.Handle(): "a", b.Handle(): "b"} {
		e := entries[handle]
		if e.Err != nil {
			t.Errorf("entry %q: unexpected error %v", handle, e.Err)
		}
		if e.Info.State != "active" || e.Info.Properties["n"] != want {
			t.Errorf("entry %q: Info = %+v", handle, e.Info)
		}
	}
	missing, ok := entries["bulk-missing"]
	if !ok || missing.Err == nil {
		t.Fatalf("missing handle entry = %+v, want an error", missing)
	}
	assertContainerNotFound(t, missing.Err.Err, "bulk-missing")

	empty, err := gardenClient.BulkInfo([]string{})
	if err != nil {
		t.Fatalf("BulkInfo([]): %v", err)
	}
	if len(empty) != 0 {
		t.Fatalf("BulkInfo([]) = %+v, want empty", empty)
	}
}

func TestBulkMetrics(t *testing.T) {
	a := newContainer(t, garden.ContainerSpec{})
	entries, err := gardenClient.BulkMetrics([]string{a.Handle(), "bulk-metrics-missing"})
	if err != nil {
		t.Fatalf("BulkMetrics: %v", err)
	}
	if len(entries) != 2 {
		t.Fatalf("BulkMetrics returned %d entries, want 2", len(entries))
	}
	if e := entries[a.Handle()]; e.Err != nil {
		t.Errorf("entry %q: unexpected error %v", a.Handle(), e.Err)
	}
	missing := entries["bulk-metrics-missing"]
	if missing.Err == nil {
		t.Fatalf("missing handle entry = %+v, want an error", missing)
	}
	assertContainerNotFound(t, missing.Err.Err, "bulk-metrics-missing")
}

func TestMetrics(t *testing.T) {
	c := newContainer(t, garden.ContainerSpec{Limits: garden.Limits{Memory: garden.MemoryLimits{LimitInBytes: 128 << 20}}})
	time.Sleep(20 * time.Millisecond)
	m, err := c.Metrics()
	if err != nil {
		t.Fatalf("Metrics: %v", err)
	}
	if m.Age <= 0 || m.Age > time.Hour {
		t.Errorf("Age = %v, want a small positive duration", m.Age)
	}
	if m.MemoryStat.TotalUsageTowardLimit == 0 && m.MemoryStat.Rss == 0 && m.MemoryStat.Cache == 0 {
		t.Errorf("MemoryStat is all zero: %+v", m.MemoryStat)
	}
}

func TestDestroy(t *testing.T) {
	c, err := gardenClient.Create(garden.ContainerSpec{})
	if err != nil {
		t.Fatal(err)
	}
	if err := gardenClient.Destroy(c.Handle()); err != nil {
		t.Fatalf("Destroy: %v", err)
	}
	_, err = gardenClient.Lookup(c.Handle())
	assertContainerNotFound(t, err, c.Handle())
	err = gardenClient.Destroy(c.Handle())
	assertContainerNotFound(t, err, c.Handle())
	err = gardenClient.Destroy("never-existed")
	assertContainerNotFound(t, err, "never-existed")
}

func TestStop(t *testing.T) {
	c := newContainer(t, garden.ContainerSpec{})
	proc, err := c.Run(garden.ProcessSpec{Path: "sleep", Args: []string{"30"}}, garden.ProcessIO{})
	if err != nil {
		t.Fatalf("Run sleep: %v", err)
	}
	if err := c.Stop(false); err != nil {
		t.Fatalf("Stop(false): %v", err)
	}
	code := waitWithin(t, proc, 15*time.Second)
	if code != 143 {
		t.Errorf("process stopped with Stop(false) exited %d, want 143", code)
	}
	info, err := c.Info()
	if err != nil {
		t.Fatalf("Info after Stop: %v", err)
	}
	if info.State != "stopped" {
		t.Errorf("State after Stop = %q, want stopped", info.State)
	}

	k := newContainer(t, garden.ContainerSpec{})
	kproc, err := k.Run(garden.ProcessSpec{Path: "sleep", Args: []string{"30"}}, garden.ProcessIO{})
	if err != nil {
		t.Fatalf("Run sleep: %v", err)
	}
	if err := k.Stop(true); err != nil {
		t.Fatalf("Stop(true): %v", err)
	}
	if code := waitWithin(t, kproc, 5*time.Second); code != 137 {
		t.Errorf("process stopped with Stop(true) exited %d, want 137", code)
	}
}

func TestProperties(t *testing.T) {
	c := newContainer(t, garden.ContainerSpec{Properties: garden.Properties{"initial": "1"}})
	if err := c.SetProperty("k y", "v<&>"); err != nil {
		t.Fatalf("SetProperty: %v", err)
	}
	if err := c.SetProperty("plus+sign", "x"); err != nil {
		t.Fatalf("SetProperty(plus+sign): %v", err)
	}
	v, err := c.Property("k y")
	if err != nil || v != "v<&>" {
		t.Fatalf("Property(k y) = %q, %v", v, err)
	}
	props, err := c.Properties()
	if err != nil {
		t.Fatalf("Properties: %v", err)
	}
	// The Go client sends "plus+sign" unescaped in the path and the server form-decodes it,
	// so the canonical pair stores it as "plus sign" (wire protocol §2.2).
	want := garden.Properties{"initial": "1", "k y": "v<&>", "plus sign": "x"}
	if !reflect.DeepEqual(userProperties(props), want) {
		t.Fatalf("Properties = %v, want %v", props, want)
	}
	if err := c.RemoveProperty("k y"); err != nil {
		t.Fatalf("RemoveProperty: %v", err)
	}
	_, err = c.Property("k y")
	if err == nil {
		t.Fatal("Property after RemoveProperty succeeded")
	}
	assertGeneric(t, err)
	if !strings.Contains(err.Error(), "k y") {
		t.Errorf("missing-property error %q does not name the property", err)
	}
	props, err = c.Properties()
	if err != nil || !reflect.DeepEqual(userProperties(props), garden.Properties{"initial": "1", "plus sign": "x"}) {
		t.Fatalf("Properties after removal = %v, %v", props, err)
	}
}

// cpuSharesReadBack is what CurrentCPULimits reports for S shares whose cgroup v2 weight is w:
// S, unless the target is the Linux backend on a host whose cpu controller is on cgroup v2.
func cpuSharesReadBack(shares, w uint64) uint64 {
	if !onLinux() {
		return shares
	}
	mountinfo, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return shares
	}
	for _, line := range strings.Split(string(mountinfo), "\n") {
		sep := strings.Index(line, " - ")
		if sep < 0 {
			continue
		}
		right := strings.Fields(line[sep+3:])
		if len(right) >= 3 && right[0] == "cgroup" && slices.Contains(strings.Split(right[2], ","), "cpu") {
			return shares
		}
	}
	return w
}

func TestCurrentLimitsDefaultToZero(t *testing.T) {
	c := newContainer(t, garden.ContainerSpec{})
	if l, err := c.CurrentBandwidthLimits(); err != nil || l != (garden.BandwidthLimits{}) {
		t.Errorf("CurrentBandwidthLimits = %+v, %v", l, err)
	}
	if l, err := c.CurrentCPULimits(); err != nil || l.LimitInShares != 0 {
		t.Errorf("CurrentCPULimits = %+v, %v", l, err)
	}
	if l, err := c.CurrentDiskLimits(); err != nil || l != (garden.DiskLimits{}) {
		t.Errorf("CurrentDiskLimits = %+v, %v", l, err)
	}
	if l, err := c.CurrentMemoryLimits(); err != nil || l != (garden.MemoryLimits{}) {
		t.Errorf("CurrentMemoryLimits = %+v, %v", l, err)
	}
}

func TestNetIn(t *testing.T) {
	c := newContainer(t, garden.ContainerSpec{})
	h1, c1, err := c.NetIn(0, 8080)
	if err != nil {
		t.Fatalf("NetIn(0, 8080): %v", err)
	}
	if h1 < 61001 || c1 != 8080 {
		t.Errorf("NetIn(0, 8080) = %d, %d; want a pool port >= 61001 and 8080", h1, c1)
	}
	h2, c2, err := c.NetIn(0, 0)
	if err != nil {
		t.Fatalf("NetIn(0, 0): %v", err)
	}
	if h2 < 61001 || h2 == h1 || c2 != h2 {
		t.Errorf("NetIn(0, 0) = %d, %d; want a fresh pool port mapped to itself (first was %d)", h2, c2, h1)
	}
	h3, c3, err := c.NetIn(0, 9000)
	if err != nil {
		t.Fatalf("NetIn(0, 9000): %v", err)
	}
	if h3 == h1 || h3 == h2 || c3 != 9000 {
		t.Errorf("NetIn(0, 9000) = %d, %d; earlier ports %d, %d", h3, c3, h1, h2)
	}
	info, err := c.Info()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []garden.PortMapping{{HostPort: h1, ContainerPort: 8080}, {HostPort: h2, ContainerPort: h2}, {HostPort: h3, ContainerPort: 9000}} {
		if !slices.Contains(info.MappedPorts, m) {
			t.Errorf("MappedPorts %+v misses %+v", info.MappedPorts, m)
		}
	}
}

func TestNetOutAndBulkNetOut(t *testing.T) {
	c := newContainer(t, garden.ContainerSpec{})
	code := garden.ICMPCode(0)
	rule := garden.NetOutRule{
		Protocol: garden.ProtocolICMP,
		Networks: []garden.IPRange{{Start: net.ParseIP("10.0.0.1"), End: net.ParseIP("10.0.0.255")}, {Start: net.ParseIP("2001:db8::1")}},
		ICMPs:    &garden.ICMPControl{Type: 8, Code: &code},
		Log:      true,
	}
	if err := c.NetOut(rule); err != nil {
		t.Fatalf("NetOut: %v", err)
	}
	if err := c.NetOut(garden.NetOutRule{}); err != nil {
		t.Fatalf("NetOut(zero rule): %v", err)
	}
	rules := []garden.NetOutRule{
		{Protocol: garden.ProtocolTCP, Ports: []garden.PortRange{{Start: 80, End: 443}}},
		{Protocol: garden.ProtocolUDP},
	}
	if err := c.BulkNetOut(rules); err != nil {
		t.Fatalf("BulkNetOut: %v", err)
	}
	if err := c.BulkNetOut(nil); err != nil {
		t.Fatalf("BulkNetOut(nil): %v", err)
	}
	if err := gardenClient.Destroy(c.Handle()); err != nil {
		t.Fatal(err)
	}
	assertContainerNotFound(t, c.NetOut(rule), c.Handle())
}

func TestGraceTimeReapsIdleContainer(t *testing.T) {
	short := newContainer(t, garden.ContainerSpec{GraceTime: 300 * time.Millisecond})
	long := newContainer(t, garden.ContainerSpec{GraceTime: time.Hour})
	waitGone(t, short.Handle(), 10*time.Second)
	if _, err := gardenClient.Lookup(long.Handle()); err != nil {
		t.Fatalf("container with a 1h grace time was reaped: %v", err)
	}
}

func TestSetGraceTimeReaps(t *testing.T) {
	c := newContainer(t, garden.ContainerSpec{GraceTime: time.Hour})
	if err := c.SetGraceTime(200 * time.Millisecond); err != nil {
		t.Fatalf("SetGraceTime: %v", err)
	}
	waitGone(t, c.Handle(), 10*time.Second)
}

func TestRunningProcessKeepsContainerAlive(t *testing.T) {
	c := newContainer(t, garden.ContainerSpec{GraceTime: 200 * time.Millisecond})
	proc, err := c.Run(garden.ProcessSpec{Path: "sleep", Args: []string{"1"}}, garden.ProcessIO{})
	if err != nil {
		t.Fatalf("Run sleep: %v", err)
	}
	time.Sleep(600 * time.Millisecond)
	if _, err := gardenClient.Lookup(c.Handle()); err != nil {
		t.Fatalf("container reaped while a Run was in flight: %v", err)
	}
	if code := waitWithin(t, proc, 10*time.Second); code != 0 {
		t.Fatalf("sleep 1 exited %d", code)
	}
	waitGone(t, c.Handle(), 10*time.Second)
}

// waitGone polls Lookup until the container is gone.
func waitGone(t *testing.T, handle string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		_, err := gardenClient.Lookup(handle)
		var notFound garden.ContainerNotFoundError
		if errors.As(err, &notFound) {
			return
		}
		if err != nil {
			t.Fatalf("Lookup(%q): %v", handle, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("container %q still exists after %v", handle, timeout)
}

func handlesOf(t *testing.T, filter garden.Properties) []string {
	t.Helper()
	cs, err := gardenClient.Containers(filter)
	if err != nil {
		t.Fatalf("Containers(%v): %v", filter, err)
	}
	out := make([]string, 0, len(cs))
	for _, c := range cs {
		out = append(out, c.Handle())
	}
	return out
}

func sameSet(a, b []string) bool {
	x, y := slices.Clone(a), slices.Clone(b)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(x, y)
}
