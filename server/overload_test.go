//go:build loadtest

package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/agate-ml/agate/server/loadgen"
)

// overloadBodies are the request bodies of the routes TestOverload loads.
var overloadBodies = map[string]func(int) []byte{
	"/predict": func(i int) []byte {
		b, _ := json.Marshal(map[string]any{"data": []float64{0.5 + float64(i%7)/10, -1.2, 0.3, 2, 0}})
		return b
	},
	"/analyze": func(i int) []byte {
		texts := []string{"You are a wonderful person and I like your work.", "Shut up, you stupid idiot.",
			"The weather is nice today, let's go for a walk in the park.", "I will find you.", "Thanks!"}
		b, _ := json.Marshal(map[string]any{"text": texts[i%len(texts)]})
		return b
	},
}

// overloadRole is what a child process of TestOverload does: generate the
// load, or probe /healthz. It runs in its own process, as a real client
// and a real kubelet would, so that neither's goroutines share the
// server's scheduler.
type overloadRole struct {
	Role  string // "load" or "probe"
	URL   string
	Route string
	Load  loadgen.Config
}

const overloadRoleEnv = "AGATE_OVERLOAD_ROLE"

// TestOverload measures each inference route's capacity (64 closed-loop
// clients), then offers 2x and 10x that rate open-loop and reports the
// goodput (answered 200 per second) against the capacity, the p50 of the
// successful requests and /healthz's p99 meanwhile (a probe every 20 ms).
// The load generator and the probe are child processes. Goals: goodput at
// least 80% of capacity, /healthz p99 at most 50 ms, no error but 429.
//
//	go test -tags loadtest -run TestOverload -v ./server/
//
// Knobs: AGATE_OVERLOAD_ROUTES (comma-separated, default both),
// AGATE_OVERLOAD_MAX_IN_FLIGHT and AGATE_OVERLOAD_MAX_QUEUED (the server's
// admission), AGATE_OVERLOAD_PROBE_URL (probe another server instead, to
// tell the machine's delay from agate's).
func TestOverload(t *testing.T) {
	if spec := os.Getenv(overloadRoleEnv); spec != "" {
		overloadChild(t, spec)
		return
	}
	cfg := Config{Batching: true}
	if n, err := strconv.Atoi(os.Getenv("AGATE_OVERLOAD_MAX_IN_FLIGHT")); err == nil {
		cfg.MaxInFlight = n
	}
	if n, err := strconv.Atoi(os.Getenv("AGATE_OVERLOAD_MAX_QUEUED")); err == nil {
		cfg.MaxQueued = n
	}
	url, _ := startLoopback(t, cfg)
	var report []string
	routes := []string{"/predict", "/analyze"}
	if r := os.Getenv("AGATE_OVERLOAD_ROUTES"); r != "" {
		routes = strings.Split(r, ",")
	}
	for _, route := range routes {
		var capRes loadgen.Result
		runOverloadChild(t, overloadRole{Role: "load", URL: url, Route: route,
			Load: loadgen.Config{Requests: 200000, Concurrency: 64, Duration: 8 * time.Second}}, &capRes)
		capacity := capRes.Throughput
		report = append(report, fmt.Sprintf("%s capacity (64 clients): %.0f req/s, p50 %v", route, capacity, capRes.P50))
		for _, x := range []float64{2, 10} {
			rate := x * capacity
			probeURL := url
			if u := os.Getenv("AGATE_OVERLOAD_PROBE_URL"); u != "" {
				probeURL = u
			}
			probe := startOverloadChild(t, overloadRole{Role: "probe", URL: probeURL, Load: loadgen.Config{Duration: 9 * time.Second}})
			var res loadgen.Result
			runOverloadChild(t, overloadRole{Role: "load", URL: url, Route: route,
				Load: loadgen.Config{Requests: int(rate * 8), Rate: rate, Concurrency: 4096, Duration: 8 * time.Second}}, &res)
			var probes []time.Duration
			probe.wait(t, &probes)
			p50, p99 := time.Duration(0), time.Duration(0)
			if len(probes) > 0 {
				slices.Sort(probes)
				p50, p99 = probes[len(probes)/2], probes[len(probes)*99/100]
			}
			goodput := float64(res.OK) / res.Elapsed.Seconds()
			report = append(report, fmt.Sprintf("%s at %.0fx (%.0f req/s offered): goodput %.0f req/s = %.0f%% of capacity, p50 of the successful %v, %d throttled, %d dropped by the client, %d errors; /healthz p50 %v p99 %v over %d probes",
				route, x, rate, goodput, 100*goodput/capacity, res.P50, res.Throttled, res.Dropped, res.Errors, p50, p99, len(probes)))
			if res.Errors > 0 {
				t.Errorf("%s at %.0fx: %d errors other than 429 (%v)", route, x, res.Errors, res.Codes)
			}
		}
	}
	if status, err := os.ReadFile("/proc/self/status"); err == nil {
		for line := range strings.SplitSeq(string(status), "\n") {
			if strings.HasPrefix(line, "VmHWM:") {
				report = append(report, "server process peak RSS: "+strings.TrimSpace(strings.TrimPrefix(line, "VmHWM:")))
			}
		}
	}
	t.Log("\n" + strings.Join(report, "\n"))
}

type overloadProc struct {
	cmd *exec.Cmd
	out bytes.Buffer
}

func startOverloadChild(t *testing.T, role overloadRole) *overloadProc {
	t.Helper()
	spec, err := json.Marshal(role)
	if err != nil {
		t.Fatal(err)
	}
	p := &overloadProc{cmd: exec.Command(os.Args[0], "-test.run=^TestOverload$", "-test.count=1")}
	p.cmd.Env = append(os.Environ(), overloadRoleEnv+"="+string(spec))
	p.cmd.Stdout, p.cmd.Stderr = &p.out, os.Stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return p
}

// wait ends the child and decodes the JSON line it printed into v.
func (p *overloadProc) wait(t *testing.T, v any) {
	t.Helper()
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("child: %v\n%s", err, p.out.String())
	}
	for line := range strings.SplitSeq(p.out.String(), "\n") {
		if rest, ok := strings.CutPrefix(line, "RESULT "); ok {
			if err := json.Unmarshal([]byte(rest), v); err != nil {
				t.Fatal(err)
			}
			return
		}
	}
	t.Fatalf("child printed no result:\n%s", p.out.String())
}

func runOverloadChild(t *testing.T, role overloadRole, v any) {
	t.Helper()
	startOverloadChild(t, role).wait(t, v)
}

// overloadChild plays one role and prints its result as "RESULT {json}".
func overloadChild(t *testing.T, spec string) {
	var role overloadRole
	if err := json.Unmarshal([]byte(spec), &role); err != nil {
		t.Fatal(err)
	}
	var result any
	switch role.Role {
	case "load":
		cfg := role.Load
		cfg.URL, cfg.Body = role.URL+role.Route, overloadBodies[role.Route]
		res, err := loadgen.Run(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		result = res
	case "probe":
		client := &http.Client{Timeout: 5 * time.Second}
		var probes []time.Duration
		for end := time.Now().Add(role.Load.Duration); time.Now().Before(end); {
			time.Sleep(20 * time.Millisecond)
			start := time.Now()
			resp, err := client.Get(role.URL + "/healthz")
			if err == nil {
				resp.Body.Close()
			}
			probes = append(probes, time.Since(start))
		}
		result = probes
	default:
		t.Fatalf("unknown role %q", role.Role)
	}
	b, err := json.Marshal(result)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("\nRESULT %s\n", b)
}
