package raft

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
)

// persistence is how the runtime around a test cluster's cores makes each
// Ready's writes durable. The core's guarantees must hold either way.
type persistence int

const (
	// synchronous: the write is done before the Ready is advanced
	// (Config.AsyncPersistence off).
	synchronous persistence = iota
	// asynchronous: Config.AsyncPersistence; the Ready is advanced at
	// once and its write completes right after, reported with Persisted,
	// unless the test holds it (testCluster.holdWrites).
	asynchronous
)

func (mode persistence) String() string {
	if mode == asynchronous {
		return "asynchronous"
	}
	return "synchronous"
}

// forBothPersistenceModes runs scenario twice, as the subtests
// "synchronous" and "asynchronous", handing it the mode its test clusters
// are built with. Every test built on a testCluster runs through it, so a
// new scenario runs in both modes without being listed anywhere;
// TestScenariosRunInBothPersistenceModes holds every test to that.
func forBothPersistenceModes(t *testing.T, scenario func(t *testing.T, mode persistence)) {
	for _, mode := range []persistence{synchronous, asynchronous} {
		t.Run(mode.String(), func(t *testing.T) { scenario(t, mode) })
	}
}

// A test cluster gets its persistence mode from forBothPersistenceModes,
// never from a constant: only a test of one mode's own contract pins it,
// and says so by its name (TestSync... for synchronous, TestAsync... for
// asynchronous). This reads the package's test files, so a scenario added
// tomorrow that pins a mode by mistake fails here.
func TestScenariosRunInBothPersistenceModes(t *testing.T) {
	files, err := filepath.Glob("*_test.go")
	if err != nil {
		t.Fatal(err)
	}
	constructors := map[string]bool{"newTestCluster": true, "newTestClusterWithSpares": true}
	checked := 0
	for _, name := range files {
		fileSet := token.NewFileSet()
		file, err := parser.ParseFile(fileSet, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, declaration := range file.Decls {
			function, ok := declaration.(*ast.FuncDecl)
			if !ok || function.Body == nil {
				continue
			}
			ast.Inspect(function.Body, func(node ast.Node) bool {
				call, ok := node.(*ast.CallExpr)
				if !ok {
					return true
				}
				callee, ok := call.Fun.(*ast.Ident)
				if !ok || !constructors[callee.Name] || len(call.Args) < 2 {
					return true
				}
				checked++
				mode, ok := call.Args[1].(*ast.Ident)
				position := fileSet.Position(call.Pos())
				switch {
				case !ok:
					t.Errorf("%s: %s's mode is an expression; pass the mode forBothPersistenceModes hands the test", position, callee.Name)
				case mode.Name == "synchronous" && !strings.HasPrefix(function.Name.Name, "TestSync"):
					t.Errorf("%s: %s pins synchronous persistence; run it through forBothPersistenceModes (or name it TestSync... if it tests that mode's own contract)", position, function.Name.Name)
				case mode.Name == "asynchronous" && !strings.HasPrefix(function.Name.Name, "TestAsync"):
					t.Errorf("%s: %s pins asynchronous persistence; run it through forBothPersistenceModes (or name it TestAsync... if it tests that mode's own contract)", position, function.Name.Name)
				}
				return true
			})
		}
	}
	if checked == 0 {
		t.Fatal("found no test cluster built in the package's tests: the check reads the wrong files")
	}
}
