package validate

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// testNamespace stands for the namespace the cluster is applied in.
const testNamespace = "lockstep-test"

// TestStatefulSetMembers checks the cluster as kustomize builds it, plain
// and with TLS: the Services, disruption budget, affinity and probes fit
// the StatefulSet, and every member's container, its variables expanded as
// the kubelet expands them, passes `lockstep serve --dry-run` with URLs made
// from its stable DNS name.
func TestStatefulSetMembers(t *testing.T) {
	for _, variant := range []struct {
		directory string
		tls       bool
	}{{"base", false}, {"tls", true}} {
		t.Run(variant.directory, func(t *testing.T) {
			built := buildCluster(t, variant.directory)
			container := checkTopology(t, built)
			checkMembers(t, built.statefulSet, container, variant.tls)
		})
	}
}

// checkTopology checks what Kubernetes does with the StatefulSet and
// returns its lockstep container.
func checkTopology(t *testing.T, built cluster) corev1.Container {
	t.Helper()
	set := built.statefulSet
	if set.Spec.Replicas == nil || *set.Spec.Replicas != 3 {
		t.Errorf("replicas %v, want 3", set.Spec.Replicas)
	}
	if set.Spec.PodManagementPolicy != appsv1.ParallelPodManagement {
		t.Errorf("podManagementPolicy %q: members must start together (none is ready before a quorum is)", set.Spec.PodManagementPolicy)
	}
	podLabels := labels.Set(set.Spec.Template.Labels)
	if !selects(t, set.Spec.Selector, podLabels) {
		t.Errorf("the StatefulSet's selector does not select its pods")
	}
	spec := set.Spec.Template.Spec
	if len(spec.Containers) != 1 || spec.Containers[0].Name != "lockstep" {
		t.Fatalf("want one container named lockstep, got %s", yamlOf(spec.Containers))
	}
	container := spec.Containers[0]
	ports := map[string]int32{}
	for _, port := range container.Ports {
		ports[port.Name] = port.ContainerPort
	}

	headless, ok := built.services[set.Spec.ServiceName]
	if !ok {
		t.Fatalf("no Service %q, the StatefulSet's serviceName", set.Spec.ServiceName)
	}
	if headless.Spec.ClusterIP != corev1.ClusterIPNone || !headless.Spec.PublishNotReadyAddresses {
		t.Errorf("Service %s must be headless (clusterIP None) and publish not-ready addresses, or members cannot find each other before a leader exists", headless.Name)
	}
	for name, service := range built.services {
		if len(service.Spec.Selector) == 0 || !labels.SelectorFromSet(service.Spec.Selector).Matches(podLabels) {
			t.Errorf("Service %s does not select the members", name)
		}
		for _, port := range service.Spec.Ports {
			if _, ok := ports[port.TargetPort.StrVal]; !ok {
				t.Errorf("Service %s port %s targets %q, which the container does not name", name, port.Name, port.TargetPort.String())
			}
		}
		if name != headless.Name && (service.Spec.ClusterIP == corev1.ClusterIPNone || !hasPort(service, "client")) {
			t.Errorf("Service %s: want the client Service, with a cluster IP and the client port", name)
		}
	}

	budget := built.disruptionBudget.Spec
	if budget.MaxUnavailable == nil || budget.MaxUnavailable.IntValue() != 1 || !selects(t, budget.Selector, podLabels) {
		t.Errorf("the PodDisruptionBudget must allow one member down at most and select the members: %s", yamlOf(budget))
	}

	affinity := spec.Affinity
	if affinity == nil || affinity.PodAntiAffinity == nil || len(affinity.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution) != 1 {
		t.Fatalf("want one required pod anti-affinity term, got %s", yamlOf(affinity))
	}
	term := affinity.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution[0]
	if term.TopologyKey != "kubernetes.io/hostname" || !selects(t, term.LabelSelector, podLabels) {
		t.Errorf("the anti-affinity must keep members on different nodes: %s", yamlOf(term))
	}

	if len(container.Command) != 0 || len(container.Args) == 0 || container.Args[0] != "serve" {
		t.Errorf("the container must run the image's entrypoint (lockstep) with serve's arguments: command %v args %v", container.Command, container.Args)
	}
	for probe, want := range map[*corev1.Probe]string{container.ReadinessProbe: "/readyz", container.LivenessProbe: "/livez", container.StartupProbe: "/livez"} {
		if probe == nil || probe.HTTPGet == nil || probe.HTTPGet.Path != want || probe.HTTPGet.Port.StrVal != "metrics" {
			t.Errorf("want an HTTP probe of %s on the metrics port, got %s", want, yamlOf(probe))
		}
	}
	if spec.SecurityContext == nil || spec.SecurityContext.RunAsNonRoot == nil || !*spec.SecurityContext.RunAsNonRoot {
		t.Errorf("the pod must run as non-root")
	}

	if len(set.Spec.VolumeClaimTemplates) != 1 {
		t.Fatalf("want one volume claim template, got %d", len(set.Spec.VolumeClaimTemplates))
	}
	claim := set.Spec.VolumeClaimTemplates[0]
	if _, ok := claim.Spec.Resources.Requests[corev1.ResourceStorage]; !ok {
		t.Errorf("volume claim template %s asks for no storage", claim.Name)
	}
	if mountPath(container, claim.Name) == "" {
		t.Errorf("volume claim template %s is not mounted", claim.Name)
	}
	return container
}

func selects(t *testing.T, selector *metav1.LabelSelector, podLabels labels.Set) bool {
	t.Helper()
	if selector == nil {
		return false
	}
	parsed, err := metav1.LabelSelectorAsSelector(selector)
	if err != nil {
		t.Errorf("selector %s: %v", yamlOf(selector), err)
		return false
	}
	return !parsed.Empty() && parsed.Matches(podLabels)
}

func hasPort(service *corev1.Service, name string) bool {
	for _, port := range service.Spec.Ports {
		if port.Name == name {
			return true
		}
	}
	return false
}

func mountPath(container corev1.Container, volume string) string {
	for _, mount := range container.VolumeMounts {
		if mount.Name == volume {
			return mount.MountPath
		}
	}
	return ""
}

// member is one pod of the StatefulSet, ready to be dry-run.
type member struct {
	name, host  string
	args        []string
	environment []string
}

// members expands the container of every pod of set; secretFiles maps the
// mount path of each Secret volume to a local directory standing for it.
func members(set *appsv1.StatefulSet, container corev1.Container, secretFiles map[string]string) ([]member, error) {
	var result []member
	for ordinal := range int(*set.Spec.Replicas) {
		name := fmt.Sprintf("%s-%d", set.Name, ordinal)
		mapping, environment, err := containerEnvironment(container, name, testNamespace)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", name, err)
		}
		args := make([]string, len(container.Args))
		for i, arg := range container.Args {
			if args[i], err = expand(arg, mapping); err != nil {
				return nil, fmt.Errorf("%s: args: %v", name, err)
			}
		}
		for i, line := range environment {
			for mount, local := range secretFiles {
				if key, value, _ := strings.Cut(line, "="); strings.HasPrefix(value, mount+"/") {
					environment[i] = key + "=" + local + strings.TrimPrefix(value, mount)
				}
			}
		}
		result = append(result, member{name: name, host: name + "." + set.Spec.ServiceName + "." + testNamespace + ".svc", args: args, environment: environment})
	}
	return result, nil
}

// checkMembers dry-runs every member and checks what it would run as.
func checkMembers(t *testing.T, set *appsv1.StatefulSet, container corev1.Container, withTLS bool) {
	t.Helper()
	var names []string
	for _, variable := range container.Env {
		names = append(names, variable.Name)
	}
	checkVariablesNameFlags(t, names)
	secretFiles := secretVolumes(t, set, container)
	if withTLS != (len(secretFiles) == 2) {
		t.Fatalf("TLS %v, but %d Secret volumes are mounted", withTLS, len(secretFiles))
	}
	ports := map[string]string{}
	for _, port := range container.Ports {
		ports[port.Name] = strconv.Itoa(int(port.ContainerPort))
	}
	scheme, security := "http", "off"
	if withTLS {
		scheme, security = "https", "on, certificates of the other side required"
	}
	all, err := members(set, container, secretFiles)
	if err != nil {
		t.Fatal(err)
	}
	var initialCluster []string
	for _, m := range all {
		initialCluster = append(initialCluster, m.name+"="+scheme+"://"+m.host+":"+ports["peer"])
	}
	slices.Sort(initialCluster)
	dataMount := mountPath(container, set.Spec.VolumeClaimTemplates[0].Name)
	for _, m := range all {
		printed, err := dryRun(t, m.args, m.environment)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{
			"name":            m.name,
			"initial cluster": strings.Join(initialCluster, ","),
			"cluster state":   "new",
			"peer URLs":       "listen " + scheme + "://0.0.0.0:" + ports["peer"] + ", advertise " + scheme + "://" + m.host + ":" + ports["peer"],
			"client URLs":     "listen " + scheme + "://0.0.0.0:" + ports["client"] + ", advertise " + scheme + "://" + m.host + ":" + ports["client"],
			"metrics URLs":    "http://0.0.0.0:" + ports["metrics"],
			"client TLS":      security,
			"peer TLS":        security,
		}
		for label, value := range want {
			if printed[label] != value {
				t.Errorf("%s: %s is %q, want %q", m.name, label, printed[label], value)
			}
		}
		if !strings.HasPrefix(printed["data dir"], dataMount+"/") {
			t.Errorf("%s: data dir %q is not on the member's volume %s", m.name, printed["data dir"], dataMount)
		}
	}
}

// secretVolumes checks that every file variable (LOCKSTEP_*_FILE) names a
// key of a mounted Secret, and stands a directory of test certificates in
// for every Secret volume: the result maps mount paths to them.
func secretVolumes(t *testing.T, set *appsv1.StatefulSet, container corev1.Container) map[string]string {
	t.Helper()
	local := map[string]string{}
	for _, volume := range set.Spec.Template.Spec.Volumes {
		if volume.Secret == nil {
			continue
		}
		mount := mountPath(container, volume.Name)
		if mount == "" {
			t.Fatalf("Secret volume %s is not mounted", volume.Name)
		}
		directory := filepath.Join(t.TempDir(), volume.Name)
		writeTestCertificates(t, directory, "*."+set.Spec.ServiceName+"."+testNamespace+".svc")
		local[mount] = directory
	}
	for _, variable := range container.Env {
		if !strings.HasPrefix(variable.Name, "LOCKSTEP_") || !strings.HasSuffix(variable.Name, "_FILE") {
			continue
		}
		directory, key := filepath.Split(variable.Value)
		if _, ok := local[strings.TrimSuffix(directory, "/")]; !ok || !slices.Contains([]string{"tls.crt", "tls.key", "ca.crt"}, key) {
			t.Errorf("%s=%s is not tls.crt, tls.key or ca.crt of a mounted Secret", variable.Name, variable.Value)
		}
	}
	return local
}

// The dry run is what catches a bad argument: an unknown flag, a variable
// that names no flag's value, an initial cluster without this member.
func TestMemberCheckRefusesBadArguments(t *testing.T) {
	built := buildCluster(t, "base")
	container := built.statefulSet.Spec.Template.Spec.Containers[0]
	all, err := members(built.statefulSet, container, nil)
	if err != nil {
		t.Fatal(err)
	}
	m := all[1]
	var dryRunFailure *dryRunError
	for _, c := range []struct {
		args        []string
		environment []string
		want        string
	}{
		{append(slices.Clone(m.args), "--initial-clusterr=x"), m.environment, "unknown flag"},
		{m.args, append(slices.Clone(m.environment), "LOCKSTEP_HEARTBEAT_INTERVAL=fast"), "LOCKSTEP_HEARTBEAT_INTERVAL"},
		{m.args, append(slices.Clone(m.environment), "LOCKSTEP_INITIAL_CLUSTER=lockstep-0=http://lockstep-0.lockstep-peer:2380"), `no member named "lockstep-1"`},
	} {
		_, err := dryRun(t, c.args, c.environment)
		if !errors.As(err, &dryRunFailure) || !strings.Contains(dryRunFailure.output, c.want) {
			t.Errorf("args %v: got %v, want a failure mentioning %q", c.args, err, c.want)
		}
	}
}
