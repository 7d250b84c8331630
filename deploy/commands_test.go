package deploy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// The tests below run, against a freshly built agate binary, every
// command the images and manifests run: each Dockerfile's RUN steps that
// call agate, its ENTRYPOINT + CMD as the container would start them (with
// its ENV) and its HEALTHCHECK; docker-compose's service; the Kubernetes
// Deployment's and the KServe runtime's container args, env and probes.
// No Docker engine or cluster runs here, so absolute paths of the image
// (/out, /var/cache/agate, /models, /mnt/models) live under a temporary
// root, and the listen port is a free loopback one.

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// agateBinary builds ./cmd/agate once, as the CPU Dockerfile does.
func agateBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "agate-deploy-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "agate")
		cmd := exec.Command("go", "build", "-trimpath", "-o", binPath, "../cmd/agate")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// root maps the image's absolute paths into a temporary folder.
type root struct {
	dir  string
	bin  string
	port string
}

func newRoot(t *testing.T) *root {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	ln.Close()
	return &root{dir: t.TempDir(), bin: agateBinary(t), port: port}
}

// path maps an absolute path of the image into the root.
func (r *root) path(p string) string {
	for _, prefix := range []string{"/out", "/var/cache", "/models", "/mnt/models", "/tmp"} {
		if p == prefix || strings.HasPrefix(p, prefix+"/") {
			return filepath.Join(r.dir, p)
		}
	}
	return p
}

// arg rewrites one argument or environment value: the agate binary, the
// image's paths (also after --flag=), the :8080 listen address.
func (r *root) arg(a string) string {
	if a == "/usr/local/bin/agate" || a == "/out/agate" || a == "agate" {
		return r.bin
	}
	if a == ":8080" || a == "0.0.0.0:8080" {
		return "127.0.0.1:" + r.port
	}
	if k, v, ok := strings.Cut(a, "="); ok && strings.HasPrefix(k, "--") {
		return k + "=" + r.arg(v)
	}
	var parts []string
	for _, p := range strings.Split(a, ",") {
		parts = append(parts, r.path(p))
	}
	return strings.Join(parts, ",")
}

func (r *root) command(args []string, env map[string]string) *exec.Cmd {
	mapped := make([]string, len(args))
	for i, a := range args {
		mapped[i] = r.arg(a)
	}
	cmd := exec.Command(mapped[0], mapped[1:]...)
	cmd.Env = []string{"HOME=" + r.dir, "PATH=" + os.Getenv("PATH"), "XDG_CACHE_HOME=" + filepath.Join(r.dir, "xdg")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+r.arg(v))
	}
	return cmd
}

func (r *root) run(t *testing.T, where string, args []string, env map[string]string) {
	t.Helper()
	out, err := r.command(args, env).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %q: %v\n%s", where, args, err, out)
	}
}

// server is a started `agate serve`.
type server struct {
	cmd *exec.Cmd
	log *bytes.Buffer
}

func (r *root) start(t *testing.T, where string, args []string, env map[string]string) *server {
	t.Helper()
	cmd := r.command(args, env)
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", where, err)
	}
	s := &server{cmd: cmd, log: &log}
	t.Cleanup(func() { s.cmd.Process.Kill(); s.cmd.Wait() })
	return s
}

// waitReady polls path until it answers 200.
func (r *root) waitReady(t *testing.T, where, path string, logs ...*bytes.Buffer) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://127.0.0.1:" + r.port + path)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	var log string
	for _, l := range logs {
		log += l.String()
	}
	t.Fatalf("%s: %s never answered 200\n%s", where, path, log)
}

// stop sends SIGTERM and expects a clean exit.
func (s *server) stop(t *testing.T, where string) {
	t.Helper()
	s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("%s: exit after SIGTERM: %v\n%s", where, err, s.log)
		}
	case <-time.After(40 * time.Second):
		t.Errorf("%s: still running 40 s after SIGTERM", where)
	}
}

func (r *root) analyze(t *testing.T, where string) {
	t.Helper()
	body := `{"text": "Ce commentaire est vraiment méchant et insultant"}`
	resp, err := http.Post("http://127.0.0.1:"+r.port+"/analyze", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("%s: /analyze: %v", where, err)
	}
	defer resp.Body.Close()
	var out struct {
		Score float64 `json:"score"`
		Model struct{ Name string }
	}
	json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode != 200 || out.Model.Name == "" {
		t.Errorf("%s: /analyze answered %d (model %q)", where, resp.StatusCode, out.Model.Name)
	}
}

// dockerfile is what a Dockerfile runs.
type dockerfile struct {
	runs        [][]string // RUN steps that call agate (shell words)
	env         map[string]string
	entrypoint  []string
	cmd         []string
	healthcheck []string
	copies      [][2]string // COPY --from=build SRC DST
}

func parseDockerfile(t *testing.T, file string) dockerfile {
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	// join continuation lines
	text := strings.ReplaceAll(string(b), "\\\n", " ")
	d := dockerfile{env: map[string]string{}}
	sc := bufio.NewScanner(strings.NewReader(text))
	jsonArgs := func(s string) []string {
		var v []string
		if err := json.Unmarshal([]byte(strings.TrimSpace(s)), &v); err != nil {
			t.Fatalf("%s: %q is not an exec-form JSON array", file, s)
		}
		return v
	}
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		word, rest, _ := strings.Cut(line, " ")
		switch word {
		case "RUN":
			if f := strings.Fields(rest); len(f) > 0 && strings.HasSuffix(f[0], "/agate") {
				d.runs = append(d.runs, f)
			}
		case "ENV":
			for _, kv := range strings.Fields(rest) {
				if k, v, ok := strings.Cut(kv, "="); ok {
					d.env[k] = v
				}
			}
		case "ENTRYPOINT":
			d.entrypoint = jsonArgs(rest)
		case "CMD":
			d.cmd = jsonArgs(rest)
		case "HEALTHCHECK":
			if _, c, ok := strings.Cut(rest, "CMD "); ok {
				d.healthcheck = jsonArgs(c)
			}
		case "COPY":
			if f := strings.Fields(rest); len(f) >= 3 && strings.HasPrefix(f[0], "--from=") {
				d.copies = append(d.copies, [2]string{f[len(f)-2], f[len(f)-1]})
			}
		}
	}
	return d
}

// copyTree copies the folder src to dst.
func copyTree(t *testing.T, src, dst string) {
	err := filepath.WalkDir(src, func(p string, e os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if e.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestDockerfileCommands runs the CPU image's build steps and starts the
// container command; the GPU image's runtime command runs on the CPU
// binary (it falls back to the CPU, saying so).
func TestDockerfileCommands(t *testing.T) {
	for _, file := range []string{"../Dockerfile", "../Dockerfile.gpu"} {
		t.Run(filepath.Base(file), func(t *testing.T) {
			d := parseDockerfile(t, file)
			r := newRoot(t)
			if len(d.runs) == 0 || len(d.entrypoint) == 0 || len(d.cmd) == 0 || len(d.healthcheck) == 0 {
				t.Fatalf("%s: missing RUN agate, ENTRYPOINT, CMD or HEALTHCHECK: %+v", file, d)
			}
			for _, run := range d.runs {
				r.run(t, file+" RUN", run, nil)
			}
			for _, c := range d.copies {
				if c[0] == "/out/agate" {
					continue
				}
				copyTree(t, r.path(c[0]), r.path(c[1]))
			}
			where := file + " ENTRYPOINT+CMD"
			s := r.start(t, where, append(append([]string{}, d.entrypoint...), d.cmd...), d.env)
			r.waitReady(t, where, "/readyz")
			r.run(t, file+" HEALTHCHECK", d.healthcheck, d.env)
			r.analyze(t, where)
			if !strings.Contains(s.log.String(), `"model":"demo-rf"`) {
				t.Errorf("%s: the demo model built by RUN was not served:\n%s", where, s.log)
			}
			s.stop(t, where)
		})
	}
}

// TestKubernetesAndKServeCommands starts the Deployment's and the KServe
// runtime's containers as their manifests say and probes them.
func TestKubernetesAndKServeCommands(t *testing.T) {
	for _, file := range []string{"kubernetes/deployment.yaml", "kserve/servingruntime.yaml", "cloudrun/service.yaml"} {
		t.Run(file, func(t *testing.T) {
			b, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var doc struct {
				Spec struct {
					Containers []container `yaml:"containers"`
					Template   struct {
						Spec struct {
							Containers     []container `yaml:"containers"`
							InitContainers []container `yaml:"initContainers"`
						} `yaml:"spec"`
					} `yaml:"template"`
				} `yaml:"spec"`
			}
			if err := yaml.Unmarshal(b, &doc); err != nil {
				t.Fatal(err)
			}
			containers := append(doc.Spec.Containers, doc.Spec.Template.Spec.Containers...)
			r := newRoot(t)
			// the image's demo model, as the Dockerfile builds it
			r.run(t, "image build", []string{"/out/agate", "pull", "demo-rf", "--out", "/out/cache/demo-rf"}, nil)
			copyTree(t, r.path("/out/cache"), r.path("/var/cache/agate"))
			if file == "kserve/servingruntime.yaml" {
				// storage: a model folder mounted at /mnt/models
				copyTree(t, r.path("/out/cache/demo-rf"), r.path("/mnt/models"))
			}
			os.MkdirAll(r.path("/models"), 0o755)
			for _, init := range doc.Spec.Template.Spec.InitContainers {
				r.run(t, file+" init container "+init.Name, append([]string{"agate"}, init.Args...), init.envMap())
			}
			for _, c := range containers {
				where := file + " container " + c.Name
				env := c.envMap()
				env["AGATE_CACHE_DIR"] = "/var/cache/agate" // the image's ENV
				args := make([]string, len(c.Args))
				for i, a := range c.Args {
					args[i] = strings.ReplaceAll(a, "{{.Name}}", "toxicity-isvc")
				}
				if _, ok := env["AGATE_ADDR"]; !ok && !strings.Contains(strings.Join(args, " "), "--addr") {
					env["AGATE_ADDR"] = ":8080"
				}
				s := r.start(t, where, append([]string{"agate"}, args...), env)
				for _, p := range []*probe{c.StartupProbe, c.ReadinessProbe, c.LivenessProbe} {
					if p != nil {
						r.waitReady(t, where, p.HTTPGet.Path, s.log)
					}
				}
				if file == "kserve/servingruntime.yaml" {
					resp, err := http.Get("http://127.0.0.1:" + r.port + "/v2/models/toxicity-isvc/ready")
					if err != nil || resp.StatusCode != 200 {
						t.Errorf("%s: the InferenceService's model is not served under its name: %v %v", where, err, resp)
					}
					if resp != nil {
						resp.Body.Close()
					}
				} else {
					r.analyze(t, where)
				}
				s.stop(t, where)
			}
		})
	}
}

type container struct {
	Name string   `yaml:"name"`
	Args []string `yaml:"args"`
	Env  []struct {
		Name      string `yaml:"name"`
		Value     string `yaml:"value"`
		ValueFrom any    `yaml:"valueFrom"`
	} `yaml:"env"`
	ReadinessProbe *probe `yaml:"readinessProbe"`
	LivenessProbe  *probe `yaml:"livenessProbe"`
	StartupProbe   *probe `yaml:"startupProbe"`
}

type probe struct {
	HTTPGet struct {
		Path string `yaml:"path"`
	} `yaml:"httpGet"`
}

// envMap returns the container's literal environment (values from the
// downward API, such as GOMAXPROCS from limits.cpu, are left out).
func (c container) envMap() map[string]string {
	env := map[string]string{}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			env[e.Name] = e.Value
		}
	}
	return env
}

// TestComposeCommand starts docker-compose's service command with its
// environment and runs its healthcheck.
func TestComposeCommand(t *testing.T) {
	b, err := os.ReadFile("../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Services map[string]struct {
			Command     []string          `yaml:"command"`
			Environment map[string]string `yaml:"environment"`
			Healthcheck struct {
				Test []string `yaml:"test"`
			} `yaml:"healthcheck"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	d := parseDockerfile(t, "../Dockerfile")
	for name, svc := range doc.Services {
		r := newRoot(t)
		env := map[string]string{}
		for k, v := range d.env {
			env[k] = v
		}
		for k, v := range svc.Environment {
			env[k] = v
		}
		cmd := svc.Command
		if len(cmd) == 0 {
			cmd = d.cmd
		}
		where := "docker-compose " + name
		s := r.start(t, where, append(append([]string{}, d.entrypoint...), cmd...), env)
		r.waitReady(t, where, "/readyz")
		if hc := svc.Healthcheck.Test; len(hc) > 1 && hc[0] == "CMD" {
			r.run(t, where+" healthcheck", hc[1:], env)
		}
		r.analyze(t, where)
		s.stop(t, where)
	}
}
