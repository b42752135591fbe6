package validate

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	kustomizetypes "sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// kubernetesDirectory holds the manifests.
var kubernetesDirectory = filepath.Join(repositoryRoot, "deploy", "kubernetes")

// newObject returns the Go type Kubernetes (or kustomize) decodes a
// document of apiVersion and kind into; nil for a kind this repository
// does not ship, which the tests refuse.
func newObject(apiVersion, kind string) any {
	switch apiVersion + "/" + kind {
	case "v1/Service":
		return &corev1.Service{}
	case "v1/Pod":
		return &corev1.Pod{}
	case "apps/v1/StatefulSet":
		return &appsv1.StatefulSet{}
	case "policy/v1/PodDisruptionBudget":
		return &policyv1.PodDisruptionBudget{}
	case "kustomize.config.k8s.io/v1beta1/Kustomization":
		return &kustomizetypes.Kustomization{}
	}
	return nil
}

// decodeStrict decodes every YAML document of data into its API type,
// refusing unknown and duplicate fields (a misspelt field would otherwise
// be dropped by the API server without a word).
func decodeStrict(data []byte) ([]any, error) {
	var objects []any
	for i, document := range splitDocuments(data) {
		var header struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		}
		if err := yaml.Unmarshal(document, &header); err != nil {
			return nil, fmt.Errorf("document %d: %v", i, err)
		}
		object := newObject(header.APIVersion, header.Kind)
		if object == nil {
			return nil, fmt.Errorf("document %d: no API type known for apiVersion %q kind %q", i, header.APIVersion, header.Kind)
		}
		if err := yaml.UnmarshalStrict(document, object); err != nil {
			return nil, fmt.Errorf("document %d (%s): %v", i, header.Kind, err)
		}
		objects = append(objects, object)
	}
	return objects, nil
}

// splitDocuments splits a YAML stream at its "---" lines, dropping empty
// documents.
func splitDocuments(data []byte) [][]byte {
	var documents [][]byte
	for _, document := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(data), -1) {
		if strings.TrimSpace(stripComments(document)) != "" {
			documents = append(documents, []byte(document))
		}
	}
	return documents
}

func stripComments(document string) string {
	var kept []string
	for _, line := range strings.Split(document, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			kept = append(kept, line)
		}
	}
	return strings.Join(kept, "\n")
}

// manifestFiles lists every YAML file under deploy/kubernetes.
func manifestFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(kubernetesDirectory, func(path string, entry os.DirEntry, err error) error {
		if err == nil && !entry.IsDir() && (strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml")) {
			files = append(files, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no manifests under %s", kubernetesDirectory)
	}
	return files
}

func TestEveryManifestDecodesStrictly(t *testing.T) {
	for _, path := range manifestFiles(t) {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := decodeStrict(data); err != nil {
			t.Errorf("%s: %v", path, err)
		}
	}
}

// The decoding is strict: a misspelt field or an unknown kind fails.
func TestDecodeStrictRefusesUnknownFields(t *testing.T) {
	for _, bad := range []string{
		"apiVersion: apps/v1\nkind: StatefulSet\nspec:\n  replica: 3\n",
		"apiVersion: v1\nkind: Service\nspec:\n  clusterIP: None\n  clusterIP: 10.0.0.1\n",
		"apiVersion: v1\nkind: Secretz\n",
	} {
		if _, err := decodeStrict([]byte(bad)); err == nil {
			t.Errorf("decoded without error:\n%s", bad)
		}
	}
	good := "# a comment\n---\napiVersion: v1\nkind: Service\nspec:\n  clusterIP: None\n---\n"
	if objects, err := decodeStrict([]byte(good)); err != nil || len(objects) != 1 {
		t.Fatalf("got %d objects, %v", len(objects), err)
	}
}

// build runs kustomize on a directory of deploy/kubernetes, as `kubectl
// apply -k` does, and decodes the result strictly.
func build(t *testing.T, directory string) []any {
	t.Helper()
	resources, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), filepath.Join(kubernetesDirectory, directory))
	if err != nil {
		t.Fatalf("kustomize build %s: %v", directory, err)
	}
	data, err := resources.AsYaml()
	if err != nil {
		t.Fatal(err)
	}
	objects, err := decodeStrict(data)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", directory, err)
	}
	return objects
}

// cluster is what a kustomization of the cluster yields.
type cluster struct {
	statefulSet      *appsv1.StatefulSet
	services         map[string]*corev1.Service
	disruptionBudget *policyv1.PodDisruptionBudget
}

func buildCluster(t *testing.T, directory string) cluster {
	t.Helper()
	result := cluster{services: map[string]*corev1.Service{}}
	for _, object := range build(t, directory) {
		switch object := object.(type) {
		case *appsv1.StatefulSet:
			if result.statefulSet != nil {
				t.Fatalf("%s: more than one StatefulSet", directory)
			}
			result.statefulSet = object
		case *corev1.Service:
			result.services[object.Name] = object
		case *policyv1.PodDisruptionBudget:
			result.disruptionBudget = object
		default:
			t.Fatalf("%s: unexpected %T", directory, object)
		}
	}
	if result.statefulSet == nil || result.disruptionBudget == nil || len(result.services) != 2 {
		t.Fatalf("%s: want a StatefulSet, a PodDisruptionBudget and two Services, got %+v", directory, result)
	}
	return result
}

// yamlOf is for failure messages.
func yamlOf(object any) string {
	data, _ := yaml.Marshal(object)
	return string(bytes.TrimSpace(data))
}
