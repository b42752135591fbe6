package validate

import (
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// expand replaces every $(NAME) in value with mapping[NAME], as the kubelet
// does in a container's environment values and arguments; $$ is a literal
// $. The kubelet leaves a reference to an undefined name as it is, which
// in these manifests is always a mistake, so here it is an error.
func expand(value string, mapping map[string]string) (string, error) {
	var out strings.Builder
	for i := 0; i < len(value); i++ {
		if value[i] != '$' || i+1 == len(value) {
			out.WriteByte(value[i])
			continue
		}
		switch value[i+1] {
		case '$':
			out.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(value[i:], ')')
			if end < 0 {
				return "", fmt.Errorf("%q: unclosed $(", value)
			}
			name := value[i+2 : i+end]
			replacement, ok := mapping[name]
			if !ok {
				return "", fmt.Errorf("%q refers to $(%s), which is not defined before it", value, name)
			}
			out.WriteString(replacement)
			i += end
		default:
			out.WriteByte('$')
		}
	}
	return out.String(), nil
}

// containerEnvironment is the environment the kubelet gives container in
// pod podName of namespace: variables in order, each value expanded with
// the variables before it, the downward API's name and namespace filled
// in. It returns the variables as a map and as KEY=VALUE lines.
func containerEnvironment(container corev1.Container, podName, namespace string) (map[string]string, []string, error) {
	if len(container.EnvFrom) != 0 {
		return nil, nil, fmt.Errorf("envFrom is not modelled by this test")
	}
	mapping := map[string]string{}
	var lines []string
	for _, variable := range container.Env {
		value := variable.Value
		switch {
		case variable.ValueFrom == nil:
			expanded, err := expand(value, mapping)
			if err != nil {
				return nil, nil, fmt.Errorf("env %s: %v", variable.Name, err)
			}
			value = expanded
		case variable.ValueFrom.FieldRef != nil && variable.ValueFrom.FieldRef.FieldPath == "metadata.name":
			value = podName
		case variable.ValueFrom.FieldRef != nil && variable.ValueFrom.FieldRef.FieldPath == "metadata.namespace":
			value = namespace
		default:
			return nil, nil, fmt.Errorf("env %s: valueFrom %+v is not modelled by this test", variable.Name, variable.ValueFrom)
		}
		mapping[variable.Name] = value
		lines = append(lines, variable.Name+"="+value)
	}
	return mapping, lines, nil
}

func TestExpand(t *testing.T) {
	mapping := map[string]string{"A": "x", "B": "y"}
	for value, want := range map[string]string{
		"$(A)-$(B)": "x-y",
		"$$(A)":     "$(A)",
		"cost $5":   "cost $5",
		"end$":      "end$",
	} {
		if got, err := expand(value, mapping); err != nil || got != want {
			t.Errorf("expand(%q) = %q, %v; want %q", value, got, err, want)
		}
	}
	for _, bad := range []string{"$(C)", "$(A"} {
		if _, err := expand(bad, mapping); err == nil {
			t.Errorf("expand(%q) did not fail", bad)
		}
	}
	// A variable sees only those defined before it, as in the kubelet.
	container := corev1.Container{Env: []corev1.EnvVar{
		{Name: "LATE", Value: "$(EARLY)-$(POD)"},
		{Name: "EARLY", Value: "e"},
	}}
	if _, _, err := containerEnvironment(container, "p", "n"); err == nil {
		t.Fatal("a reference to a later variable was accepted")
	}
}
