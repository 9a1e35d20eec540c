package conformance

// Network safety for GARDEN_TARGET=linux: gardend networks its containers inside a test-made
// "host" network namespace, joined by a veth to an "outside" namespace that holds the other end of
// its default route (gardend publishes NetIn ports on the default route's source address). Nothing
// touches the machine's own interfaces, routes or nftables.

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

var (
	// hostNetns and outsideNetns are `ip netns` names (files under /run/netns).
	hostNetns    = fmt.Sprintf("garden-conformance-%d-h", os.Getpid())
	outsideNetns = fmt.Sprintf("garden-conformance-%d-o", os.Getpid())
)

func ipCmd(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

// makeTestNetwork creates both namespaces: the host has 192.0.2.1/24 on ext0 and its default
// route via the outside's 192.0.2.2.
func makeTestNetwork() error {
	steps := [][]string{
		{"netns", "add", hostNetns},
		{"netns", "add", outsideNetns},
		{"-n", hostNetns, "link", "set", "lo", "up"},
		{"-n", outsideNetns, "link", "set", "lo", "up"},
		{"-n", hostNetns, "link", "add", "ext0", "type", "veth", "peer", "name", "eth0", "netns", outsideNetns},
		{"-n", hostNetns, "addr", "add", "192.0.2.1/24", "dev", "ext0"},
		{"-n", hostNetns, "link", "set", "ext0", "up"},
		{"-n", outsideNetns, "addr", "add", "192.0.2.2/24", "dev", "eth0"},
		{"-n", outsideNetns, "link", "set", "eth0", "up"},
		{"-n", hostNetns, "route", "add", "default", "via", "192.0.2.2"},
	}
	for _, s := range steps {
		if err := ipCmd(s...); err != nil {
			return err
		}
	}
	return nil
}

// deleteTestNetwork kills what is left in the namespaces (nothing, after a clean run) and
// deletes them.
func deleteTestNetwork() {
	for _, ns := range []string{outsideNetns, hostNetns} {
		out, err := exec.Command("ip", "netns", "pids", ns).Output()
		if err != nil {
			continue // not there
		}
		for _, pid := range strings.Fields(string(out)) {
			_ = exec.Command("kill", "-9", pid).Run()
		}
		if err := ipCmd("netns", "del", ns); err != nil {
			fmt.Fprintln(os.Stderr, "conformance:", err)
		}
	}
}

// checkNetworkEmpty: once gardend stopped with no containers left, its host namespace holds no
// link of ours (bridges gtb-*, veths gtv-*, ifbs gti-*) and no nft table.
func checkNetworkEmpty() error {
	var errs []error
	links, err := exec.Command("ip", "-n", hostNetns, "-o", "link", "show").Output()
	if err != nil {
		errs = append(errs, fmt.Errorf("listing the links of %s: %v", hostNetns, err))
	}
	for _, line := range strings.Split(string(links), "\n") {
		fields := strings.Fields(line)
		if len(fields) > 1 {
			name := strings.TrimSuffix(strings.SplitN(fields[1], "@", 2)[0], ":")
			if strings.HasPrefix(name, "gtb-") || strings.HasPrefix(name, "gtv-") || strings.HasPrefix(name, "gti-") {
				errs = append(errs, fmt.Errorf("link %s left in %s", name, hostNetns))
			}
		}
	}
	tables, err := exec.Command("ip", "netns", "exec", hostNetns, "nft", "list", "tables").Output()
	if err != nil {
		errs = append(errs, fmt.Errorf("listing the nft tables of %s: %v", hostNetns, err))
	} else if strings.TrimSpace(string(tables)) != "" {
		errs = append(errs, fmt.Errorf("nft tables left in %s: %s", hostNetns, strings.TrimSpace(string(tables))))
	}
	return errors.Join(errs...)
}
