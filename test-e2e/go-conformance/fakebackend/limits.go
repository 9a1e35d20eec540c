package fakebackend

import (
	"fmt"

	"code.cloudfoundry.org/garden"
)

// The limits a container can run with, as @garden-ts/backend-kit's checkContainerLimits refuses
// them before anything is made (0 = no limit): memory at least 1 MiB, CPU shares 2..262144,
// pids.max 1..2^22.
const (
	minMemoryLimit = 1 << 20
	minCPUShares   = 2
	maxCPUShares   = 1 << 18
	maxPidsLimit   = 1 << 22
)

func checkCPUAndMemory(memory garden.MemoryLimits, cpu garden.CPULimits) error {
	if v := memory.LimitInBytes; v != 0 && v < minMemoryLimit {
		return fmt.Errorf("limits.memory_limits.limit_in_bytes must be 0 (no limit) or at least %d (bytes; a container does not start below 1 MiB), got %d", minMemoryLimit, v)
	}
	for _, f := range []struct {
		name  string
		value uint64
	}{{"weight", cpu.Weight}, {"limit_in_shares", cpu.LimitInShares}} {
		if f.value != 0 && (f.value < minCPUShares || f.value > maxCPUShares) {
			return fmt.Errorf("limits.cpu_limits.%s must be 0 (no limit) or %d..%d (cgroup CPU shares), got %d", f.name, minCPUShares, maxCPUShares, f.value)
		}
	}
	return nil
}

// checkContainerLimits refuses container limits the kernel cannot take, naming field and range.
func checkContainerLimits(l garden.Limits) error {
	if err := checkCPUAndMemory(l.Memory, l.CPU); err != nil {
		return err
	}
	if v := l.Pid.Max; v > maxPidsLimit {
		return fmt.Errorf("limits.pid_limits.max must be 0 (no limit) or 1..%d (the kernel's largest pids.max), got %d", maxPidsLimit, v)
	}
	return nil
}
