// Package proxy is a fault-injecting TCP proxy placed in front of each
// member's peer port, and a Network that turns "cut the link from A to B"
// into rules on those proxies. Every member advertises its proxy's address
// as its peer URL, so all peer traffic to a member passes its proxy.
package proxy

// Direction is the direction of the bytes on one proxied connection.
type Direction int

const (
	// Inbound bytes travel from the connecting source to the proxy's member.
	Inbound Direction = iota
	// Outbound bytes travel from the proxy's member back to the source on a
	// connection the source opened.
	Outbound
)

func (direction Direction) String() string {
	if direction == Inbound {
		return "inbound"
	}
	return "outbound"
}

// Mode says what the proxy does with bytes of one source and direction.
type Mode int

const (
	// Pass forwards bytes.
	Pass Mode = iota
	// Stall stops forwarding (and reading, so TCP back-pressure builds up):
	// a network that silently loses packets. Bytes held back flow again
	// when the rule is lifted, as after a healed partition.
	Stall
	// Refuse closes the source's connections and every new one at once:
	// a network that answers with resets. It closes whole connections, so
	// it cuts both directions whichever direction it is set on.
	Refuse
)

func (mode Mode) String() string {
	switch mode {
	case Pass:
		return "pass"
	case Stall:
		return "stall"
	case Refuse:
		return "refuse"
	}
	return "unknown"
}

// ruleKey names the traffic a rule applies to.
type ruleKey struct {
	source    string
	direction Direction
}

// UnknownSource is the source of a connection whose sender could not be
// identified. Such a connection fails closed: it gets the most severe rule
// any source has in that direction, so a fault is never weaker than asked.
const UnknownSource = ""

// modeFor returns the rule for a source and direction; callers hold the
// proxy's mutex.
func modeFor(rules map[ruleKey]Mode, source string, direction Direction) Mode {
	if source != UnknownSource {
		return rules[ruleKey{source, direction}]
	}
	severest := Pass
	for key, mode := range rules {
		if key.direction == direction && mode > severest {
			severest = mode
		}
	}
	return severest
}
