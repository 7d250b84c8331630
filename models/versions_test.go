package models

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agate-ml/agate/models/demo"
	"github.com/agate-ml/agate/models/forest"
)

func TestCompareVersions(t *testing.T) {
	ordered := []string{"1", "1.2", "1.10", "2", "2.0.1", "9", "10", "10-rc1", "alpha", "beta"}
	for i := range ordered {
		for j := range ordered {
			want := 0
			switch {
			case i < j:
				want = -1
			case i > j:
				want = 1
			}
			if got := CompareVersions(ordered[i], ordered[j]); got != want {
				t.Errorf("CompareVersions(%q, %q) = %d, want %d", ordered[i], ordered[j], got, want)
			}
		}
	}
	for _, v := range []string{"1", "v2.0", "2024-01-01", "1+build"} {
		if !ValidVersion(v) {
			t.Errorf("ValidVersion(%q) = false", v)
		}
	}
	for _, v := range []string{"", "a/b", "..", "-1", "with space"} {
		if ValidVersion(v) {
			t.Errorf("ValidVersion(%q) = true", v)
		}
	}
}

func TestManifestRouting(t *testing.T) {
	base := "name: m\nversion: \"2\"\ntask: tabular-regression\nsource: {kind: builtin}\n"
	m, err := ParseManifest([]byte(base + "traffic: {\"1\": 90, \"2\": 10}\ndefault_version: \"1\"\n"))
	if err != nil || m.Traffic["1"] != 90 || m.DefaultVersion != "1" {
		t.Fatalf("%+v %v", m, err)
	}
	for extra, want := range map[string]string{
		"traffic: {\"1\": -1, \"2\": 5}\n": "negative weight",
		"traffic: {\"1\": 0}\n":            "add up to 0",
		"traffic: {\"a/b\": 1}\n":          "traffic: version",
		"default_version: \"x y\"\n":       "default_version",
	} {
		if _, err := ParseManifest([]byte(base + extra)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want an error about %s", extra, err, want)
		}
	}
}

// fakeModel is a registry entry that needs no engine (Close is never
// called on it here).
func fakeModel(name, version string, man *Manifest) *Model {
	if man == nil {
		man = &Manifest{Name: name, Version: version}
	}
	return &Model{Name: name, Version: version, Manifest: man}
}

func TestRegistryVersions(t *testing.T) {
	r := NewRegistry()
	r.SetMissing("m", "pull it")
	for _, v := range []string{"2", "10", "1"} {
		if err := r.Add(fakeModel("m", v, nil)); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Add(fakeModel("m", "2", nil)); err == nil {
		t.Error("the same version twice is accepted")
	}
	if _, missing := r.Missing("m"); missing {
		t.Error("a loaded model is still missing")
	}
	if m, _ := r.Get("m"); m.Version != "10" {
		t.Errorf("default version %s, want the highest, 10", m.Version)
	}
	if m, ok := r.Version("m", "1"); !ok || m.Version != "1" {
		t.Error("Version(m, 1)")
	}
	if _, ok := r.Version("m", "3"); ok {
		t.Error("Version(m, 3) found")
	}
	if got := fmt.Sprint(versionsOf(r.Versions("m"))); got != "[1 2 10]" {
		t.Errorf("Versions: %s", got)
	}
	if len(r.List()) != 1 || len(r.All()) != 3 {
		t.Errorf("List %d, All %d", len(r.List()), len(r.All()))
	}
	for range 5 {
		if m, _ := r.Route("m"); m.Version != "10" {
			t.Fatalf("Route without a split: %s", m.Version)
		}
	}
	if r.Traffic("m") != nil || len(r.Check()) != 0 {
		t.Error("no split expected")
	}

	// The highest version whose manifest routes decides; versions it
	// names that are not loaded are reported and left out.
	man := &Manifest{Name: "m", Version: "10", Traffic: map[string]int{"1": 3, "10": 1, "7": 5}, DefaultVersion: "2"}
	old, err := r.Replace("m", []*Model{fakeModel("m", "1", nil), fakeModel("m", "2", nil), fakeModel("m", "10", man)})
	if err != nil || len(old) != 3 {
		t.Fatalf("Replace: %d %v", len(old), err)
	}
	if m, _ := r.Get("m"); m.Version != "2" {
		t.Errorf("default_version 2: got %s", m.Version)
	}
	if fmt.Sprint(r.Traffic("m")) != "map[1:3 10:1]" {
		t.Errorf("Traffic: %v", r.Traffic("m"))
	}
	if errs := r.Check(); len(errs) != 1 || !strings.Contains(errs[0].Error(), `"7"`) {
		t.Errorf("Check: %v", errs)
	}
	var seq []string
	for range 8 {
		m, _ := r.Route("m")
		seq = append(seq, m.Version)
	}
	// Smooth weighted round robin spreads the turns.
	if got := strings.Join(seq, ","); got != "1,1,10,1,1,1,10,1" {
		t.Errorf("route sequence %s", got)
	}
	if _, err := r.Replace("m", []*Model{fakeModel("m", "1", nil), fakeModel("m", "1", nil)}); err == nil {
		t.Error("Replace with a duplicate version")
	}
	if _, err := r.Replace("m", nil); err == nil {
		t.Error("Replace with nothing")
	}
	if _, err := r.Replace("m", []*Model{fakeModel("other", "1", nil)}); err == nil {
		t.Error("Replace with another name")
	}
}

func versionsOf(ms []*Model) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Version)
	}
	return out
}

func writeDemo(t *testing.T, dir string, seed uint64) {
	t.Helper()
	cfg := demo.Config{Samples: 200, Seed: seed, Forest: forest.Config{Trees: 3, MaxDepth: 3, Seed: seed}}
	if _, err := demo.Write(dir, cfg); err != nil {
		t.Fatal(err)
	}
}

func TestDiscoverAndReload(t *testing.T) {
	root := t.TempDir()
	writeDemo(t, filepath.Join(root, "plain"), 1)
	writeDemo(t, filepath.Join(root, "fraud", "1"), 2)
	writeDemo(t, filepath.Join(root, "fraud", "2"), 3)
	if err := os.MkdirAll(filepath.Join(root, "empty", "1"), 0o755); err != nil {
		t.Fatal(err)
	}
	found, err := Discover(root)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprint([]Found{{Dir: filepath.Join(root, "fraud", "1"), Name: "fraud", Version: "1"},
		{Dir: filepath.Join(root, "fraud", "2"), Name: "fraud", Version: "2"}, {Dir: filepath.Join(root, "plain")}})
	if fmt.Sprint(found) != want {
		t.Errorf("Discover:\n got %v\nwant %s", found, want)
	}
	if f, _ := Discover(filepath.Join(root, "plain")); len(f) != 1 || f[0].Dir != filepath.Join(root, "plain") {
		t.Errorf("Discover of a model folder: %v", f)
	}
	if _, err := Discover(filepath.Join(root, "nope")); err == nil {
		t.Error("Discover of a missing folder")
	}

	m, err := Load(found[1].Dir, LoadOptions{Name: found[1].Name, Version: found[1].Version})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.Name != "fraud" || m.Version != "2" || !m.Reloadable() {
		t.Fatalf("%s %s", m.Name, m.Version)
	}
	writeDemo(t, found[1].Dir, 4)
	m2, err := m.Reload(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	if m2 == m || m2.Name != "fraud" || m2.Version != "2" {
		t.Errorf("reloaded: %s %s", m2.Name, m2.Version)
	}
	if _, err := Load(found[1].Dir, LoadOptions{Version: "a/b"}); err == nil {
		t.Error("an invalid version is accepted")
	}
	if _, err := (&Model{Name: "x"}).Reload(context.Background()); !errors.Is(err, ErrNotReloadable) {
		t.Errorf("Reload without a source: %v", err)
	}
}
