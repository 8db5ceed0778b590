// Package deploy holds the files that install pedns: a systemd unit, a
// container build file and Kubernetes manifests. Its tests check them: the
// manifests decode strictly into the Kubernetes API types, the configurations
// load, and the unit passes systemd-analyze verify.
package deploy

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"

	"github.com/pedns/pedns/internal/config"
	"github.com/pedns/pedns/internal/testutil"
)

// kinds maps the apiVersion and kind of each manifest to a new value of its
// API type. A kind not listed here fails the test: add it with its type.
var kinds = map[string]func() any{
	"v1/Namespace":                  func() any { return new(corev1.Namespace) },
	"v1/ConfigMap":                  func() any { return new(corev1.ConfigMap) },
	"v1/Service":                    func() any { return new(corev1.Service) },
	"apps/v1/Deployment":            func() any { return new(appsv1.Deployment) },
	"policy/v1/PodDisruptionBudget": func() any { return new(policyv1.PodDisruptionBudget) },
	"autoscaling/v2/HorizontalPodAutoscaler": func() any {
		return new(autoscalingv2.HorizontalPodAutoscaler)
	},
}

// manifests decodes every document of every file in kubernetes/, strictly:
// an unknown or misspelled field, a duplicate key or a wrong type fails.
func manifests(t *testing.T) map[string]any {
	t.Helper()
	files, err := filepath.Glob("kubernetes/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in kubernetes/: %v", err)
	}
	out := map[string]any{}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(data), -1) {
			if strings.TrimSpace(doc) == "" {
				continue
			}
			var head struct {
				APIVersion string `json:"apiVersion"`
				Kind       string `json:"kind"`
			}
			if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
				t.Fatalf("%s document %d: %v", file, i+1, err)
			}
			key := head.APIVersion + "/" + head.Kind
			newObj, ok := kinds[key]
			if !ok {
				t.Fatalf("%s document %d: kind %q is not one the test knows", file, i+1, key)
			}
			obj := newObj()
			if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
				t.Fatalf("%s document %d (%s): %v", file, i+1, key, err)
			}
			if _, dup := out[key]; dup {
				t.Fatalf("%s: a second %s", file, key)
			}
			out[key] = obj
		}
	}
	return out
}

func TestManifestsDecodeStrictly(t *testing.T) {
	m := manifests(t)
	for key := range kinds {
		if _, ok := m[key]; !ok {
			t.Errorf("no %s among the manifests", key)
		}
	}
}

// TestStrictDecodeCatchesTypos makes sure the decoding above would fail on a
// misspelled field, which is the point of it.
func TestStrictDecodeCatchesTypos(t *testing.T) {
	doc := "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec:\n  prots: []\n"
	if err := yaml.UnmarshalStrict([]byte(doc), new(corev1.Service)); err == nil {
		t.Fatal("a misspelled field decoded without error")
	}
}

// TestManifestsAgree checks what ties the manifests together: the
// configuration loads, the probes and ports match its listen addresses, the
// Service and budget select the Deployment's pods, and the replicas are
// spread over nodes and zones.
func TestManifestsAgree(t *testing.T) {
	m := manifests(t)
	cm := m["v1/ConfigMap"].(*corev1.ConfigMap)
	dep := m["apps/v1/Deployment"].(*appsv1.Deployment)
	svc := m["v1/Service"].(*corev1.Service)
	pdb := m["policy/v1/PodDisruptionBudget"].(*policyv1.PodDisruptionBudget)
	hpa := m["autoscaling/v2/HorizontalPodAutoscaler"].(*autoscalingv2.HorizontalPodAutoscaler)

	l, err := config.Parse([]byte(cm.Data["pedns.yaml"]), "configmap.yaml:pedns.yaml")
	if err != nil {
		t.Fatalf("the ConfigMap's configuration does not load:\n%v", err)
	}
	pod := dep.Spec.Template
	var main *corev1.Container
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Name == "pedns" {
			main = &pod.Spec.Containers[i]
		}
	}
	if main == nil {
		t.Fatal("the Deployment has no container named pedns")
	}
	ports := map[string]corev1.ContainerPort{}
	for _, p := range main.Ports {
		ports[p.Name] = p
	}
	if want := port(t, l.Listen[0]); ports["dns-udp"].ContainerPort != want ||
		ports["dns-tcp"].ContainerPort != want {
		t.Errorf("DNS container ports %v, want %d from listen", main.Ports, want)
	}
	if want := port(t, l.HTTP.Listen); ports["http"].ContainerPort != want {
		t.Errorf("http container port %d, want %d from http.listen",
			ports["http"].ContainerPort, want)
	}
	if p := main.ReadinessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/ready" {
		t.Errorf("readiness probe %+v, want GET /ready", p)
	}
	if p := main.LivenessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/health" {
		t.Errorf("liveness probe %+v, want GET /health", p)
	}

	labels := pod.Labels
	for name, sel := range map[string]map[string]string{
		"Service": svc.Spec.Selector, "PodDisruptionBudget": pdb.Spec.Selector.MatchLabels,
		"Deployment": dep.Spec.Selector.MatchLabels,
	} {
		for k, v := range sel {
			if labels[k] != v {
				t.Errorf("%s selects %s=%s, which the pods lack", name, k, v)
			}
		}
	}
	for _, sp := range svc.Spec.Ports {
		if sp.Port != 53 {
			t.Errorf("Service port %s is %d, want 53", sp.Name, sp.Port)
		}
		if cp, ok := ports[sp.TargetPort.String()]; !ok || cp.Protocol != sp.Protocol {
			t.Errorf("Service port %s targets %s, no container port of protocol %s",
				sp.Name, sp.TargetPort.String(), sp.Protocol)
		}
	}
	spread := map[string]bool{}
	for _, c := range pod.Spec.TopologySpreadConstraints {
		spread[c.TopologyKey] = true
	}
	for _, key := range []string{"topology.kubernetes.io/zone", "kubernetes.io/hostname"} {
		if !spread[key] {
			t.Errorf("replicas are not spread over %s", key)
		}
	}
	if hpa.Spec.ScaleTargetRef.Name != dep.Name || hpa.Spec.ScaleTargetRef.Kind != "Deployment" {
		t.Errorf("the autoscaler targets %+v, not the Deployment", hpa.Spec.ScaleTargetRef)
	}
	if hpa.Spec.MinReplicas == nil || *hpa.Spec.MinReplicas < 2 {
		t.Error("the autoscaler may go below two replicas")
	}
}

func port(t *testing.T, addr string) int32 {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	var n int32
	fmt.Sscanf(p, "%d", &n)
	return n
}

func TestSystemdConfigLoads(t *testing.T) {
	if _, err := config.Load("systemd/pedns.yaml"); err != nil {
		t.Fatalf("systemd/pedns.yaml does not load:\n%v", err)
	}
}

// TestSystemdUnitVerifies runs systemd-analyze verify on the unit, with the
// binary path pointed at a pedns built for the test (verify checks that the
// commands exist).
func TestSystemdUnitVerifies(t *testing.T) {
	analyze := testutil.RequireTool(t, "systemd-analyze")
	bin := testutil.BuildPedns(t)
	unit, err := os.ReadFile("systemd/pedns.service")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(unit), "/usr/local/bin/pedns ") {
		t.Fatal("the unit no longer runs /usr/local/bin/pedns; update this test")
	}
	text := strings.ReplaceAll(string(unit), "/usr/local/bin/pedns ", bin+" ")
	path := filepath.Join(t.TempDir(), "pedns.service")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", "--man=no", path).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}

	for _, want := range []string{"DynamicUser=yes", "AmbientCapabilities=CAP_NET_BIND_SERVICE\n",
		"CapabilityBoundingSet=CAP_NET_BIND_SERVICE\n", "ProtectSystem=strict",
		"NoNewPrivileges=yes", "ExecReload=/bin/kill -HUP $MAINPID"} {
		if !strings.Contains(text, want) {
			t.Errorf("the unit lacks %q", strings.TrimSpace(want))
		}
	}
}
