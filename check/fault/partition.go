package fault

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/lockstepdb/lockstep/check/proxy"
)

// link is one direction of traffic between two members.
type link struct{ from, to string }

// partitionLinks returns the links a partition of the given shape cuts
// among members (names), with leader the current leader (or a stand-in if
// none is known), and a description for people. Symmetric shapes cut both
// directions of every link between sides.
func partitionLinks(shape Shape, names []string, leader string, choice uint64) ([]link, string) {
	shuffled := append([]string(nil), names...)
	random := rand.New(rand.NewPCG(choice, 0))
	random.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	var others []string
	for _, name := range names {
		if name != leader {
			others = append(others, name)
		}
	}
	switch shape {
	case IsolateLeader:
		return between([]string{leader}, others), fmt.Sprintf("isolate leader %s from %s", leader, list(others))
	case Bridge:
		if len(names) >= 3 {
			bridge, rest := shuffled[0], shuffled[1:]
			left, right := rest[:len(rest)/2], rest[len(rest)/2:]
			return between(left, right), fmt.Sprintf("bridge: %s | %s | %s, only %s talks to both sides", list(left), bridge, list(right), bridge)
		}
	case FromLeaderLost:
		var links []link
		for _, other := range others {
			links = append(links, link{leader, other})
		}
		return links, fmt.Sprintf("one way: messages from leader %s to %s lost", leader, list(others))
	case ToLeaderLost:
		var links []link
		for _, other := range others {
			links = append(links, link{other, leader})
		}
		return links, fmt.Sprintf("one way: messages from %s to leader %s lost", list(others), leader)
	}
	if len(names) < 2 {
		return nil, "no partition possible with one member"
	}
	minoritySize := 1
	if len(names) >= 5 {
		minoritySize += int(choice % uint64((len(names)-1)/2))
	}
	minority, majority := shuffled[:minoritySize], shuffled[minoritySize:]
	return between(minority, majority), fmt.Sprintf("minority %s | majority %s", list(minority), list(majority))
}

// between returns every link, both ways, between the two sides.
func between(left, right []string) []link {
	var links []link
	for _, first := range left {
		for _, second := range right {
			links = append(links, link{first, second}, link{second, first})
		}
	}
	return links
}

func list(names []string) string { return "{" + strings.Join(names, ",") + "}" }

// isSymmetric reports whether the shape cuts both directions, and so may
// use proxy.Refuse (which closes connections and thus always cuts both).
func (shape Shape) isSymmetric() bool { return shape != FromLeaderLost && shape != ToLeaderLost }

// applyPartition cuts the links on the network.
func applyPartition(network *proxy.Network, links []link, mode proxy.Mode) error {
	for _, cut := range links {
		if err := network.Cut(cut.from, cut.to, mode); err != nil {
			return err
		}
	}
	return nil
}
