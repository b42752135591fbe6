package sim

import (
	"path/filepath"
	"testing"
)

// A put ends when it was first applied if that came before its
// acknowledgement (or there was none), and a put neither acknowledged nor
// applied never happened: reads are judged by those rules.
func TestCheckRegistersEndsPutsAtTheirFirstEffect(t *testing.T) {
	directory := t.TempDir()
	for _, c := range []struct {
		name         string
		put          RegisterPut
		read         string
		linearizable bool
	}{
		{"applied, unacknowledged, then missed", RegisterPut{Key: "k", Value: "v", Call: 10, FirstApplied: 15}, "", false},
		{"applied before acknowledged, then missed", RegisterPut{Key: "k", Value: "v", Call: 10, FirstApplied: 15, Acknowledged: 40}, "", false},
		{"applied, unacknowledged, then seen", RegisterPut{Key: "k", Value: "v", Call: 10, FirstApplied: 15}, "v", true},
		{"acknowledged, then seen", RegisterPut{Key: "k", Value: "v", Call: 10, Acknowledged: 15}, "v", true},
		{"never took effect, not seen", RegisterPut{Key: "k", Value: "v", Call: 10}, "", true},
		{"never took effect, yet seen", RegisterPut{Key: "k", Value: "v", Call: 10}, "v", false},
	} {
		ok, path, err := CheckRegisters([]RegisterPut{c.put}, []RegisterRead{{Key: "k", Value: c.read, Call: 20, Answer: 30}}, 0, directory, "picture.html")
		if err != nil || ok != c.linearizable {
			t.Errorf("%s: linearizable %v (%v), want %v", c.name, ok, err, c.linearizable)
		}
		if !ok && path != filepath.Join(directory, "picture.html") {
			t.Errorf("%s: picture at %q", c.name, path)
		}
	}
}
