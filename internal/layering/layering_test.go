package layering

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/lockstepdb/lockstep/"

// documentedImports reads the package table of docs/architecture.md (the
// table whose header starts "| package |"): each row's package and the
// lockstep packages it imports, in the table's order (top to bottom).
func documentedImports(t *testing.T, path string) ([]string, map[string][]string) {
	t.Helper()
	file, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	var order []string
	imports := map[string][]string{}
	inTable := false
	scanner := bufio.NewScanner(file)
	for scanner.Scan() {
		line := scanner.Text()
		if strings.HasPrefix(line, "| package |") {
			inTable = true
			continue
		}
		if !inTable || strings.HasPrefix(line, "|---") {
			continue
		}
		if !strings.HasPrefix(line, "|") {
			break // the table ended
		}
		cells := strings.Split(strings.Trim(line, "|"), " | ")
		if len(cells) != 3 {
			t.Fatalf("%s: a package row needs 3 cells (package, what it holds, imports): %q", path, line)
		}
		name := strings.Trim(strings.TrimSpace(cells[0]), "`")
		if _, seen := imports[name]; seen {
			t.Fatalf("%s: package %s has two rows", path, name)
		}
		order = append(order, name)
		imports[name] = []string{}
		if list := strings.TrimSpace(cells[2]); list != "—" {
			for _, item := range strings.Split(list, ", ") {
				imports[name] = append(imports[name], strings.Trim(item, "`"))
			}
		}
	}
	if err := scanner.Err(); err != nil {
		t.Fatal(err)
	}
	if len(order) == 0 {
		t.Fatalf("%s has no package table (a header row starting \"| package |\")", path)
	}
	return order, imports
}

// actualImports asks `go list` for every package of the module and the
// lockstep packages it imports (tests excluded).
func actualImports(t *testing.T, root string) map[string][]string {
	t.Helper()
	command := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, "./...")
	command.Dir = root
	output, err := command.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	imports := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(output)), "\n") {
		fields := strings.Fields(line)
		name := strings.TrimPrefix(fields[0], module)
		imports[name] = []string{}
		for _, imported := range fields[1:] {
			if strings.HasPrefix(imported, module) {
				imports[name] = append(imports[name], strings.TrimPrefix(imported, module))
			}
		}
	}
	return imports
}

// docs/architecture.md lists every package with exactly the lockstep
// packages it imports, and each imports only packages in rows below its
// own: the layering holds, and the document says what go list says.
func TestArchitectureMatchesImports(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	order, documented := documentedImports(t, filepath.Join(root, "docs", "architecture.md"))
	actual := actualImports(t, root)
	if len(actual) == 0 {
		t.Fatal("go list reported no package")
	}
	for name, imports := range actual {
		want, ok := documented[name]
		if !ok {
			t.Errorf("package %s (imports %v) has no row in docs/architecture.md", name, imports)
			continue
		}
		slices.Sort(imports)
		slices.Sort(want)
		if !slices.Equal(imports, want) {
			t.Errorf("package %s imports %v, docs/architecture.md says %v", name, imports, want)
		}
	}
	for name := range documented {
		if _, ok := actual[name]; !ok {
			t.Errorf("docs/architecture.md lists %s, which go list does not report", name)
		}
	}
	for row, name := range order {
		for _, imported := range documented[name] {
			if below := slices.Index(order, imported); below <= row {
				t.Errorf("%s imports %s, which is not below it in docs/architecture.md's table: an upward import", name, imported)
			}
		}
	}
}
