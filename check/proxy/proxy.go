package proxy

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// Identifier names the member that opened a connection, from the
// connection's remote (source) and local (proxy) addresses, or returns
// UnknownSource. It is called once per accepted connection, from the
// proxy's accept goroutine.
type Identifier func(remote, local net.Addr) string

// dialTimeout bounds the proxy's connection to its member, which is on the
// same machine: a member that is down refuses at once.
const dialTimeout = 2 * time.Second

// Proxy forwards every connection accepted on its listener to target,
// applying per-source, per-direction rules. Safe for concurrent use.
type Proxy struct {
	listener net.Listener
	target   string
	identify Identifier

	mutex       sync.Mutex
	rules       map[ruleKey]Mode
	changed     chan struct{} // closed and replaced whenever rules change
	connections map[*connection]struct{}
	closed      bool
	accepting   sync.WaitGroup
}

// New listens on listenAddress (use "127.0.0.1:0" for a free port) and
// forwards connections to target. identify may be nil: every connection is
// then from UnknownSource. Close stops it.
func New(listenAddress, target string, identify Identifier) (*Proxy, error) {
	listener, err := net.Listen("tcp", listenAddress)
	if err != nil {
		return nil, fmt.Errorf("proxy: listen on %s: %w", listenAddress, err)
	}
	if identify == nil {
		identify = func(net.Addr, net.Addr) string { return UnknownSource }
	}
	proxy := &Proxy{
		listener:    listener,
		target:      target,
		identify:    identify,
		rules:       map[ruleKey]Mode{},
		changed:     make(chan struct{}),
		connections: map[*connection]struct{}{},
	}
	proxy.accepting.Add(1)
	go proxy.acceptLoop()
	return proxy, nil
}

// Address returns the address the proxy listens on (host:port).
func (proxy *Proxy) Address() string { return proxy.listener.Addr().String() }

// SetRule sets what happens to bytes from (Inbound) or to (Outbound) the
// member named source. Setting Refuse closes that source's connections now.
func (proxy *Proxy) SetRule(source string, direction Direction, mode Mode) {
	proxy.mutex.Lock()
	key := ruleKey{source, direction}
	if mode == Pass {
		delete(proxy.rules, key)
	} else {
		proxy.rules[key] = mode
	}
	proxy.announceLocked()
	var doomed []*connection
	if mode == Refuse {
		for connection := range proxy.connections {
			if connection.source == source || connection.source == UnknownSource {
				doomed = append(doomed, connection)
			}
		}
	}
	proxy.mutex.Unlock()
	for _, connection := range doomed {
		connection.close()
	}
}

// Rule returns the mode in force for a source and direction.
func (proxy *Proxy) Rule(source string, direction Direction) Mode {
	proxy.mutex.Lock()
	defer proxy.mutex.Unlock()
	return modeFor(proxy.rules, source, direction)
}

// Heal lifts every rule; stalled bytes flow again.
func (proxy *Proxy) Heal() {
	proxy.mutex.Lock()
	defer proxy.mutex.Unlock()
	clear(proxy.rules)
	proxy.announceLocked()
}

// Close stops accepting, closes every connection and waits for the accept
// loop to end. It is idempotent.
func (proxy *Proxy) Close() error {
	proxy.mutex.Lock()
	if proxy.closed {
		proxy.mutex.Unlock()
		return nil
	}
	proxy.closed = true
	connections := make([]*connection, 0, len(proxy.connections))
	for connection := range proxy.connections {
		connections = append(connections, connection)
	}
	proxy.mutex.Unlock()
	err := proxy.listener.Close()
	for _, connection := range connections {
		connection.close()
	}
	proxy.accepting.Wait()
	return err
}

// announceLocked wakes every stalled pump so it rereads the rules.
func (proxy *Proxy) announceLocked() {
	close(proxy.changed)
	proxy.changed = make(chan struct{})
}

func (proxy *Proxy) acceptLoop() {
	defer proxy.accepting.Done()
	for {
		downstream, err := proxy.listener.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		source := proxy.identify(downstream.RemoteAddr(), downstream.LocalAddr())
		go proxy.serve(downstream, source)
	}
}

// serve connects one accepted connection to the member and forwards bytes
// both ways until either side closes or a Refuse rule closes it.
func (proxy *Proxy) serve(downstream net.Conn, source string) {
	if proxy.Rule(source, Inbound) == Refuse || proxy.Rule(source, Outbound) == Refuse {
		downstream.Close()
		return
	}
	upstream, err := net.DialTimeout("tcp", proxy.target, dialTimeout)
	if err != nil {
		downstream.Close()
		return
	}
	connection := newConnection(source, downstream, upstream)
	proxy.mutex.Lock()
	if proxy.closed {
		proxy.mutex.Unlock()
		connection.close()
		return
	}
	proxy.connections[connection] = struct{}{}
	proxy.mutex.Unlock()

	var pumps sync.WaitGroup
	pumps.Add(2)
	go func() { defer pumps.Done(); proxy.pump(connection, Inbound) }()
	go func() { defer pumps.Done(); proxy.pump(connection, Outbound) }()
	pumps.Wait()

	proxy.mutex.Lock()
	delete(proxy.connections, connection)
	proxy.mutex.Unlock()
}
