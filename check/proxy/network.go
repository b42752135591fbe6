package proxy

import (
	"fmt"
	"sort"
	"sync"
)

// Network holds the proxy in front of each member's peer port and applies
// link faults between members. Safe for concurrent use.
//
// A message from A to B can travel on a connection A opened to B's proxy
// (inbound bytes there) or on one B opened to A's proxy (outbound bytes
// there), depending on the peer protocol, so cutting A→B sets both.
type Network struct {
	mutex   sync.Mutex
	proxies map[string]*Proxy
}

// NewNetwork returns an empty network.
func NewNetwork() *Network { return &Network{proxies: map[string]*Proxy{}} }

// Add registers the proxy in front of member name.
func (network *Network) Add(name string, proxy *Proxy) {
	network.mutex.Lock()
	defer network.mutex.Unlock()
	network.proxies[name] = proxy
}

// Proxy returns the proxy in front of member name, or nil.
func (network *Network) Proxy(name string) *Proxy {
	network.mutex.Lock()
	defer network.mutex.Unlock()
	return network.proxies[name]
}

// Cut stops messages from member from reaching member to with mode Stall
// (one way: replies still flow) or Refuse (closes the connections between
// them, which cuts both ways).
func (network *Network) Cut(from, to string, mode Mode) error {
	network.mutex.Lock()
	defer network.mutex.Unlock()
	fromProxy, toProxy := network.proxies[from], network.proxies[to]
	if fromProxy == nil || toProxy == nil {
		return fmt.Errorf("proxy: cut %s -> %s: unknown member", from, to)
	}
	toProxy.SetRule(from, Inbound, mode)
	fromProxy.SetRule(to, Outbound, mode)
	return nil
}

// Partition cuts every link, both ways, between members on different
// sides. Members on no side keep all their links (a bridge, for example).
func (network *Network) Partition(mode Mode, sides ...[]string) error {
	for index, side := range sides {
		for _, other := range sides[index+1:] {
			for _, first := range side {
				for _, second := range other {
					if err := network.Cut(first, second, mode); err != nil {
						return err
					}
					if err := network.Cut(second, first, mode); err != nil {
						return err
					}
				}
			}
		}
	}
	return nil
}

// Heal lifts every rule on every proxy.
func (network *Network) Heal() {
	network.mutex.Lock()
	defer network.mutex.Unlock()
	for _, proxy := range network.proxies {
		proxy.Heal()
	}
}

// Close closes every proxy.
func (network *Network) Close() error {
	network.mutex.Lock()
	defer network.mutex.Unlock()
	names := make([]string, 0, len(network.proxies))
	for name := range network.proxies {
		names = append(names, name)
	}
	sort.Strings(names)
	var first error
	for _, name := range names {
		if err := network.proxies[name].Close(); err != nil && first == nil {
			first = fmt.Errorf("proxy: close %s: %w", name, err)
		}
	}
	return first
}
