// Package deploy holds the Kubernetes and KServe manifests; its test checks
// every YAML file here (and docker-compose.yml, and the Dockerfiles)
// against minimal embedded schemas, since no cluster or Docker engine runs
// in CI.
package deploy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// kindSchema is the minimal schema of one kind: its apiVersion and the
// paths that must be present. A path segment "[]" means every element of
// a list.
type kindSchema struct {
	apiVersion string
	required   []string
}

var schemas = map[string]kindSchema{
	"Deployment": {"apps/v1", []string{"metadata.name", "spec.selector.matchLabels", "spec.template.metadata.labels",
		"spec.template.spec.containers", "spec.template.spec.containers.[].name", "spec.template.spec.containers.[].image",
		"spec.template.spec.containers.[].readinessProbe", "spec.template.spec.containers.[].livenessProbe",
		"spec.template.spec.containers.[].resources.limits", "spec.template.spec.securityContext.runAsNonRoot"}},
	"Service":                 {"v1", []string{"metadata.name", "spec.selector", "spec.ports", "spec.ports.[].port"}},
	"HorizontalPodAutoscaler": {"autoscaling/v2", []string{"metadata.name", "spec.scaleTargetRef.kind", "spec.scaleTargetRef.name", "spec.maxReplicas", "spec.metrics"}},
	"PodDisruptionBudget":     {"policy/v1", []string{"metadata.name", "spec.selector"}},
	"ServingRuntime": {"serving.kserve.io/v1alpha1", []string{"metadata.name", "spec.supportedModelFormats", "spec.supportedModelFormats.[].name",
		"spec.containers", "spec.containers.[].name", "spec.containers.[].image", "spec.protocolVersions"}},
	"InferenceService": {"serving.kserve.io/v1beta1", []string{"metadata.name", "spec.predictor.model.modelFormat.name",
		"spec.predictor.model.storageUri"}},
	"Ingress": {"networking.k8s.io/v1", []string{"metadata.name", "metadata.annotations", "spec.tls", "spec.tls.[].secretName",
		"spec.rules", "spec.rules.[].http.paths.[].backend.service.name"}},
	// Cloud Run (Knative) services share the kind name with Kubernetes'
	"Service@serving.knative.dev/v1": {"serving.knative.dev/v1", []string{"metadata.name", "spec.template.spec.containers",
		"spec.template.spec.containers.[].image", "spec.template.spec.containers.[].ports"}},
}

func has(doc any, path []string) error {
	if len(path) == 0 {
		if doc == nil {
			return errors.New("is empty")
		}
		return nil
	}
	if path[0] == "[]" {
		list, ok := doc.([]any)
		if !ok || len(list) == 0 {
			return errors.New("is not a non-empty list")
		}
		for i, e := range list {
			if err := has(e, path[1:]); err != nil {
				return fmt.Errorf("[%d]: %w", i, err)
			}
		}
		return nil
	}
	m, ok := doc.(map[string]any)
	if !ok {
		return errors.New("is not a mapping")
	}
	v, ok := m[path[0]]
	if !ok {
		return fmt.Errorf("lacks %q", path[0])
	}
	return has(v, path[1:])
}

// serveFlags are the flags agate serve and pull define (read from their
// source, so a manifest cannot use a flag that does not exist).
func serveFlags(t *testing.T) map[string]bool {
	flags := map[string]bool{}
	re := regexp.MustCompile(`\.(?:String|Int|Int64|Float|Bool|Duration)\("([a-z-]+)"`)
	for _, f := range []string{"../cmd/agate/serve.go", "../cmd/agate/pull.go"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllSubmatch(b, -1) {
			flags[string(m[1])] = true
		}
	}
	return flags
}

func checkArgs(t *testing.T, where string, args []any, flags map[string]bool) {
	for _, a := range args {
		s, _ := a.(string)
		if !strings.HasPrefix(s, "--") {
			continue
		}
		name := strings.SplitN(strings.TrimPrefix(s, "--"), "=", 2)[0]
		if !flags[name] {
			t.Errorf("%s: agate has no flag --%s", where, name)
		}
	}
}

func checkEnv(t *testing.T, where string, env any, flags map[string]bool) {
	list, _ := env.([]any)
	for _, e := range list {
		name, _ := e.(map[string]any)["name"].(string)
		checkEnvName(t, where, name, flags)
	}
	if m, ok := env.(map[string]any); ok {
		for name := range m {
			checkEnvName(t, where, name, flags)
		}
	}
}

func checkEnvName(t *testing.T, where, name string, flags map[string]bool) {
	if !strings.HasPrefix(name, "AGATE_") {
		return
	}
	flag := strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(name, "AGATE_"), "_", "-"))
	if !flags[flag] {
		t.Errorf("%s: $%s matches no agate flag", where, name)
	}
}

func TestManifests(t *testing.T) {
	flags := serveFlags(t)
	kinds := map[string]int{}
	err := filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || (filepath.Ext(path) != ".yaml" && filepath.Ext(path) != ".yml") {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		for i := 0; ; i++ {
			var doc map[string]any
			if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Errorf("%s: document %d: %v", path, i, err)
				break
			}
			kind, _ := doc["kind"].(string)
			s, ok := schemas[kind+"@"+fmt.Sprint(doc["apiVersion"])]
			if ok {
				kind += "@" + fmt.Sprint(doc["apiVersion"])
			} else {
				s, ok = schemas[kind]
			}
			if !ok {
				t.Errorf("%s: document %d: unknown kind %q", path, i, kind)
				continue
			}
			kinds[kind]++
			if doc["apiVersion"] != s.apiVersion {
				t.Errorf("%s: %s apiVersion %v, want %s", path, kind, doc["apiVersion"], s.apiVersion)
			}
			for _, req := range s.required {
				if err := has(doc, strings.Split(req, ".")); err != nil {
					t.Errorf("%s: %s %s: %v", path, kind, req, err)
				}
			}
			var containers []any
			if spec, ok := doc["spec"].(map[string]any); ok {
				if c, ok := spec["containers"].([]any); ok {
					containers = c
				}
				if tpl, ok := spec["template"].(map[string]any); ok {
					ps := tpl["spec"].(map[string]any)
					containers, _ = ps["containers"].([]any)
					ic, _ := ps["initContainers"].([]any)
					containers = append(containers, ic...)
				}
			}
			for _, c := range containers {
				cm := c.(map[string]any)
				where := fmt.Sprintf("%s: %s container %v", path, kind, cm["name"])
				args, _ := cm["args"].([]any)
				checkArgs(t, where, args, flags)
				checkEnv(t, where, cm["env"], flags)
				for _, probe := range []string{"readinessProbe", "livenessProbe", "startupProbe"} {
					p, _ := cm[probe].(map[string]any)
					if p == nil {
						continue
					}
					hg, _ := p["httpGet"].(map[string]any)
					switch hg["path"] {
					case "/healthz", "/readyz", "/v2/health/live", "/v2/health/ready":
					default:
						t.Errorf("%s: %s path %v is not a probe route", where, probe, hg["path"])
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for kind := range schemas {
		if kinds[kind] == 0 {
			t.Errorf("no %s manifest under deploy/", kind)
		}
	}
	// docker-compose.yml: services with an image or build, healthcheck, env.
	b, err := os.ReadFile("../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var compose map[string]any
	if err := yaml.Unmarshal(b, &compose); err != nil {
		t.Fatal(err)
	}
	services, _ := compose["services"].(map[string]any)
	if len(services) == 0 {
		t.Fatal("docker-compose.yml: no services")
	}
	for name, s := range services {
		sm := s.(map[string]any)
		if sm["build"] == nil && sm["image"] == nil {
			t.Errorf("compose service %s: no build or image", name)
		}
		if err := has(sm, []string{"healthcheck", "test"}); err != nil {
			t.Errorf("compose service %s: healthcheck %v", name, err)
		}
		checkEnv(t, "compose service "+name, sm["environment"], flags)
	}
}

// TestDockerfiles keeps the Dockerfiles honest: they build ./cmd/agate
// (the binary CI tests), the CPU image statically, run as non-root, have a
// HEALTHCHECK using a real flag, and expose the default port.
func TestDockerfiles(t *testing.T) {
	flags := serveFlags(t)
	for file, want := range map[string][]string{
		"../Dockerfile":     {"CGO_ENABLED=0 go build", "./cmd/agate", "distroless/static", "nonroot", "USER 65532", "HEALTHCHECK", "serve\", \"--healthcheck", "EXPOSE 8080", "pull demo-rf"},
		"../Dockerfile.gpu": {"-tags cuda", "./cmd/agate", "nvidia/cuda", "USER 10001", "HEALTHCHECK", "serve\", \"--healthcheck", "EXPOSE 8080"},
	} {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		s := string(b)
		for _, w := range want {
			if !strings.Contains(s, w) {
				t.Errorf("%s lacks %q", file, w)
			}
		}
		for _, m := range regexp.MustCompile(`AGATE_[A-Z_]+`).FindAllString(s, -1) {
			checkEnvName(t, file, m, flags)
		}
		if !strings.Contains(string(b), "FROM golang:1.26") && !strings.Contains(string(b), "GO_VERSION=1.26") {
			t.Errorf("%s: the Go toolchain must match go.mod (1.26)", file)
		}
	}
	if !serveFlags(t)["healthcheck"] {
		t.Error("agate serve has no --healthcheck flag, which the HEALTHCHECKs use")
	}
}
