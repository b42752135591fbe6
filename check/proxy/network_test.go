package proxy

import "testing"

func startNetwork(t *testing.T, names ...string) *Network {
	t.Helper()
	network := NewNetwork()
	for _, name := range names {
		proxy, err := New("127.0.0.1:0", "127.0.0.1:1", nil)
		if err != nil {
			t.Fatal(err)
		}
		network.Add(name, proxy)
	}
	t.Cleanup(func() { network.Close() })
	return network
}

// linkCut reports whether messages from one member to another are stopped
// on both paths they may take.
func linkCut(network *Network, from, to string) bool {
	return network.Proxy(to).Rule(from, Inbound) != Pass && network.Proxy(from).Rule(to, Outbound) != Pass
}

// linkOpen reports whether neither path from one member to another has a rule.
func linkOpen(network *Network, from, to string) bool {
	return network.Proxy(to).Rule(from, Inbound) == Pass && network.Proxy(from).Rule(to, Outbound) == Pass
}

func TestCutIsOneWay(t *testing.T) {
	network := startNetwork(t, "a", "b")
	if err := network.Cut("a", "b", Stall); err != nil {
		t.Fatal(err)
	}
	if !linkCut(network, "a", "b") || !linkOpen(network, "b", "a") {
		t.Fatal("Cut(a, b) did not cut exactly a -> b")
	}
	if err := network.Cut("a", "nobody", Stall); err == nil {
		t.Fatal("Cut accepted an unknown member")
	}
}

func TestPartitionAndBridgeThenHeal(t *testing.T) {
	network := startNetwork(t, "a", "b", "c", "d", "e")
	// a and b cannot reach d and e; c is a bridge that reaches everyone.
	if err := network.Partition(Refuse, []string{"a", "b"}, []string{"d", "e"}); err != nil {
		t.Fatal(err)
	}
	for _, pair := range [][2]string{{"a", "d"}, {"d", "a"}, {"b", "e"}, {"e", "b"}, {"a", "e"}} {
		if !linkCut(network, pair[0], pair[1]) {
			t.Errorf("%s -> %s not cut", pair[0], pair[1])
		}
	}
	for _, pair := range [][2]string{{"a", "b"}, {"d", "e"}, {"c", "a"}, {"a", "c"}, {"c", "e"}, {"e", "c"}} {
		if !linkOpen(network, pair[0], pair[1]) {
			t.Errorf("%s -> %s cut", pair[0], pair[1])
		}
	}
	network.Heal()
	for _, from := range []string{"a", "b", "c", "d", "e"} {
		for _, to := range []string{"a", "b", "c", "d", "e"} {
			if from != to && !linkOpen(network, from, to) {
				t.Errorf("%s -> %s still cut after Heal", from, to)
			}
		}
	}
}
