package cluster

import (
	"fmt"
	"net"
)

// freePorts returns count distinct TCP ports that were free on 127.0.0.1
// a moment ago: all are held open together, so none repeats, then
// released for the members to bind. Another process may take one in
// between; Start then tries again.
func freePorts(count int) ([]int, error) {
	listeners := make([]net.Listener, 0, count)
	defer func() {
		for _, listener := range listeners {
			listener.Close()
		}
	}()
	ports := make([]int, 0, count)
	for len(ports) < count {
		listener, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("cluster: choosing a free port: %w", err)
		}
		listeners = append(listeners, listener)
		ports = append(ports, listener.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
