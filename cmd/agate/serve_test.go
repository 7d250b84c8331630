package main

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/agate-ml/agate/internal/shared"
	"github.com/agate-ml/agate/models"
	"github.com/agate-ml/agate/models/toxicity"
	"github.com/agate-ml/agate/ops"
	flag "github.com/spf13/pflag"
)

// TestLoadModelsPicksAnalyzeModel checks which text model goes behind
// /analyze: the embedded one on a fresh machine, a --model-dir text model
// when one is given.
func TestLoadModelsPicksAnalyzeModel(t *testing.T) {
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	pool := ops.NewPool(1)
	defer pool.Close()
	catalog, err := models.BuiltinCatalog()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	reg := models.NewRegistry()
	defer reg.Close()
	picked := loadModels(ctx, log, reg, catalog, modelSources{cacheDir: t.TempDir(), names: []string{"toxic-bert"}, pool: pool, device: "cpu"})
	if picked != toxicity.Name {
		t.Errorf("fresh machine: picked %q, want %s", picked, toxicity.Name)
	}
	if m, ok := reg.Get(toxicity.Name); !ok || !m.Text.Linear() {
		t.Fatalf("the embedded model is not loaded")
	}
	if _, missing := reg.Missing("toxic-bert"); !missing {
		t.Errorf("toxic-bert, not pulled, is not reported missing")
	}

	dir := shared.Path(t, "models", "transformers", "bert-tiny-6label")
	reg2 := models.NewRegistry()
	defer reg2.Close()
	picked = loadModels(ctx, log, reg2, catalog, modelSources{cacheDir: t.TempDir(), dirs: []string{dir}, pool: pool, device: "cpu"})
	if picked != "bert-tiny-6label" {
		t.Errorf("with --model-dir: picked %q, want bert-tiny-6label", picked)
	}
	if _, ok := reg2.Get(toxicity.Name); !ok {
		t.Errorf("the embedded model should stay available by name")
	}

	// KServe mounts the model at /mnt/models and passes the service's name
	reg3 := models.NewRegistry()
	defer reg3.Close()
	picked = loadModels(ctx, log, reg3, catalog, modelSources{cacheDir: t.TempDir(), dirs: []string{dir}, modelName: "my-isvc", pool: pool, device: "cpu"})
	if _, ok := reg3.Get("my-isvc"); !ok || picked != "my-isvc" {
		t.Errorf("--model-name: picked %q, models %v", picked, reg3.List())
	}
}

// TestServePrecision checks --precision: bf16 reaches the engine (fp32
// where the CPU lacks AVX512-BF16), an unknown name exits 2.
func TestServePrecision(t *testing.T) {
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	pool := ops.NewPool(1)
	defer pool.Close()
	catalog, err := models.BuiltinCatalog()
	if err != nil {
		t.Fatal(err)
	}
	dir := shared.Path(t, "models", "transformers", "bert-tiny-6label")
	reg := models.NewRegistry()
	defer reg.Close()
	loadModels(context.Background(), log, reg, catalog, modelSources{cacheDir: t.TempDir(), dirs: []string{dir}, pool: pool, device: "cpu", precision: ops.PrecisionBFloat16})
	m, ok := reg.Get("bert-tiny-6label")
	if !ok {
		t.Fatal("bert-tiny-6label not loaded")
	}
	want := ops.PrecisionFloat32
	if ops.BFloat16Supported() {
		want = ops.PrecisionBFloat16
	}
	if got := m.Engine().Precision(); got != want {
		t.Errorf("precision %v, want %v", got, want)
	}

	var stderr strings.Builder
	code := runFlags("serve", []string{"--precision", "fp16", "--addr", "127.0.0.1:0"},
		func(fs *flag.FlagSet) func([]string) int {
			return serveCommand(context.Background(), fs, io.Discard, &stderr)
		})
	if code != 2 || !strings.Contains(stderr.String(), `unknown precision "fp16"`) {
		t.Errorf("--precision fp16: exit %d, %q", code, stderr.String())
	}
}
