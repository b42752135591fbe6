package validate

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// The restore helper pod mounts member 0's volume by the name the
// StatefulSet's claim template gives it (TEMPLATE-STATEFULSET-ORDINAL),
// where the member keeps its data directory, and runs the same image.
func TestRestorePodMountsMemberVolume(t *testing.T) {
	set := buildCluster(t, "base").statefulSet
	data, err := os.ReadFile(filepath.Join(kubernetesDirectory, "restore", "restore-pod.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	objects, err := decodeStrict(data)
	if err != nil || len(objects) != 1 {
		t.Fatalf("restore-pod.yaml: %d objects, %v", len(objects), err)
	}
	pod, ok := objects[0].(*corev1.Pod)
	if !ok {
		t.Fatalf("restore-pod.yaml holds a %T, want a Pod", objects[0])
	}
	member := set.Spec.Template.Spec.Containers[0]
	claim := set.Spec.VolumeClaimTemplates[0].Name + "-" + set.Name + "-0"
	if len(pod.Spec.Volumes) != 1 || pod.Spec.Volumes[0].PersistentVolumeClaim == nil || pod.Spec.Volumes[0].PersistentVolumeClaim.ClaimName != claim {
		t.Fatalf("the restore pod must mount claim %s: %s", claim, yamlOf(pod.Spec.Volumes))
	}
	helper := pod.Spec.Containers[0]
	if helper.Image != member.Image || mountPath(helper, pod.Spec.Volumes[0].Name) != mountPath(member, set.Spec.VolumeClaimTemplates[0].Name) {
		t.Fatalf("the restore pod must run image %s with the volume at the member's mount path", member.Image)
	}
	// docs/operations.md makes member N's pod with sed s/lockstep-0/lockstep-N/g.
	edited, err := decodeStrict([]byte(strings.ReplaceAll(string(data), set.Name+"-0", set.Name+"-2")))
	if err != nil {
		t.Fatal(err)
	}
	if got := edited[0].(*corev1.Pod).Spec.Volumes[0].PersistentVolumeClaim.ClaimName; got != set.Spec.VolumeClaimTemplates[0].Name+"-"+set.Name+"-2" {
		t.Fatalf("the documented edit for member 2 mounts claim %s", got)
	}
	if pod.Spec.SecurityContext == nil || pod.Spec.SecurityContext.RunAsUser == nil || *pod.Spec.SecurityContext.RunAsUser != *set.Spec.Template.Spec.SecurityContext.RunAsUser {
		t.Fatalf("the restore pod must run as the member's user, so the member can read what it restores")
	}
}
