package main

import (
	"cmp"
	"path/filepath"
	"slices"
	"strings"
)

// newPathDisplay returns the replacer that turns the machine's absolute
// paths in command lines and messages into names that are the same on
// any machine: the run's directory becomes $WORK, this program compare,
// the repository's root ".", and the directory of an etcd binary outside
// it $LOCKSTEP_ETCD_BIN (where tools/build-etcd put it). Longer paths are
// replaced first, so that $WORK wins over the root it may lie in.
func newPathDisplay(root, work, executable string, systems []system) *strings.Replacer {
	type replacement struct{ path, shown string }
	replacements := []replacement{{work + string(filepath.Separator), "$WORK/"}, {executable, "compare"}, {root + string(filepath.Separator), "./"}}
	for _, s := range systems {
		if s.Name != "etcd" {
			continue
		}
		directory := filepath.Dir(s.Command[0])
		if relative, err := filepath.Rel(root, directory); err != nil || strings.HasPrefix(relative, "..") {
			replacements = append(replacements, replacement{directory + string(filepath.Separator), "$LOCKSTEP_ETCD_BIN/"})
		}
	}
	slices.SortStableFunc(replacements, func(a, b replacement) int { return cmp.Compare(len(b.path), len(a.path)) })
	var pairs []string
	for _, r := range replacements {
		pairs = append(pairs, r.path, r.shown)
	}
	return strings.NewReplacer(pairs...)
}
