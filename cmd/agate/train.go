package main

import (
	"context"
	"fmt"
	flag "github.com/spf13/pflag"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/agate-ml/agate/internal/shared"
	"github.com/agate-ml/agate/models/textdata"
	"github.com/agate-ml/agate/models/train"
)

const trainUsage = `Usage: agate train [flags]

Trains a linear text classifier (sublinear TF-IDF over word 1-2-grams and
character 2-5-grams within words, a lexicon-hit feature, one L2-regularised
logistic regression per category with balanced class weights, L-BFGS) on
the labelled files a data manifest lists, and writes a model folder that
'agate serve --model-dir' serves: model.onnx (standard ONNX operators),
featurizer.json, manifest.yaml and training.json (data files with their
licences and digests, validation ROC-AUC per category and source).

Only sources with use "train" are read, and each must carry a licence that
allows shipping the model (MIT, Apache-2.0, BSD, CC0, CC-BY, CC-BY-SA);
the run stops on any other. A share of the texts (--validation-fraction,
chosen by a hash of the text and --seed) is kept apart: the regularisation
of each category is picked on it. The same data and seed give the same
files, byte for byte.

In the manifest, ${SHARED} stands for --shared.

Example (the embedded default model):
  agate train --out models/toxicity/default

Flags:
`

// cmdTrain trains a linear text classifier.
func cmdTrain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return runFlags("train", args, func(fs *flag.FlagSet) func([]string) int { return trainCommand(ctx, fs, stdout, stderr) })
}

// trainCommand defines the flags of 'agate train' on fs and returns what runs
// the command on its positional arguments (cobra or runFlags parses).
func trainCommand(ctx context.Context, fs *flag.FlagSet, stdout, stderr io.Writer) func(args []string) int {
	setUsage(fs, stderr, trainUsage)
	root, _ := shared.Root()
	f := &envFlags{fs: fs}
	manifest := f.String("train-manifest", "models/toxicity/train.yaml", "data manifest (YAML) listing the labelled files")
	sharedDir := f.String("shared", root, "folder that ${SHARED} stands for in the manifest [default: $AGATE_SHARED or ../shared]")
	lexicon := f.String("lexicon", "${SHARED}/data/toxicity/lexicon-french-badwords/list.txt", "word list (one entry per line) counted as one feature; empty for none")
	out := fs.String("out", "", "model folder to write (required)")
	name := fs.String("name", "agate-toxicity", "model name")
	version := fs.String("version", "1", "model version")
	license := fs.String("license", "CC-BY-SA-3.0", "licence of the trained weights (the data's share-alike terms carry over)")
	seed := fs.Int64("seed", 1, "seed of the validation split")
	valFrac := fs.Float64("validation-fraction", 0.2, "share of texts kept for validation")
	minDF := fs.Int("min-df", 2, "drop features seen in fewer training texts")
	maxFeatures := fs.Int("max-features", 200000, "keep the most frequent features")
	cs := fs.String("c", "0.5,1,2,4,8,16", "inverse L2 regularisation strengths to try per category (picked on validation)")
	categories := fs.String("categories", "toxicity,hate", "outputs, in order (empty: every category the data labels)")
	keepAccents := fs.Bool("keep-accents", false, "keep accents (the default strips them before taking features)")
	langWeights := fs.String("language-weights", "", "row weight multipliers by language, as fr=2,en=0.5 (default 1)")
	srcWeights := fs.String("source-weights", "", "row weight multipliers by manifest source, as mlma-fr=2 (default 1)")
	workers := fs.Int("workers", 2, "goroutines computing gradients (the model does not depend on it)")
	quiet := fs.Bool("quiet", false, "print no progress")
	return func(args []string) int {
		if f.failed("train", stderr) {
			return 2
		}
		if len(args) > 0 {
			fmt.Fprintf(stderr, "agate train: unexpected arguments %q\n", args)
			return 2
		}
		if *out == "" {
			fmt.Fprintln(stderr, "agate train: --out is required")
			return 2
		}
		var cvals []float64
		for _, c := range splitList(*cs) {
			v, err := strconv.ParseFloat(c, 64)
			if err != nil || v <= 0 {
				fmt.Fprintf(stderr, "agate train: --c: %q is not a positive number\n", c)
				return 2
			}
			cvals = append(cvals, v)
		}
		var langW, srcW map[string]float64
		for _, w := range []struct {
			flag, value string
			dst         *map[string]float64
		}{{"--language-weights", *langWeights, &langW}, {"--source-weights", *srcWeights, &srcW}} {
			for _, kv := range splitList(w.value) {
				k, v, ok := strings.Cut(kv, "=")
				x, err := strconv.ParseFloat(v, 64)
				if !ok || err != nil || x < 0 || k == "" {
					fmt.Fprintf(stderr, "agate train: %s: %q is not NAME=WEIGHT with a weight of 0 or more\n", w.flag, kv)
					return 2
				}
				if *w.dst == nil {
					*w.dst = map[string]float64{}
				}
				(*w.dst)[k] = x
			}
		}
		vars := map[string]string{"SHARED": *sharedDir}
		m, err := textdata.ReadManifest(*manifest, vars)
		if err != nil {
			fmt.Fprintln(stderr, "agate train:", err)
			return 1
		}
		cfg := train.Config{Manifest: m, LanguageWeights: langW, SourceWeights: srcW, Cs: cvals, Seed: *seed, ValidationFraction: *valFrac, MinDF: *minDF, MaxFeatures: *maxFeatures, Workers: *workers}
		cfg.Featurizer = train.DefaultFeaturizer()
		cfg.Featurizer.Normalization.StripAccents = !*keepAccents
		if *categories != "" {
			cfg.Categories = splitList(*categories)
		}
		if *lexicon != "" {
			path := os.Expand(*lexicon, func(k string) string { return vars[k] })
			b, err := os.ReadFile(path)
			if err != nil {
				fmt.Fprintln(stderr, "agate train: --lexicon:", err)
				return 1
			}
			cfg.Lexicon = strings.Split(string(b), "\n")
		}
		start := time.Now()
		if !*quiet {
			cfg.Logf = func(format string, args ...any) {
				fmt.Fprintf(stderr, "%6.1fs  %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
			}
		}
		res, err := train.Train(ctx, cfg)
		if err != nil {
			fmt.Fprintln(stderr, "agate train:", err)
			return 1
		}
		info := train.ModelInfo{Name: *name, Version: *version, License: *license,
			Description: "Multilingual (French first) toxicity classifier: TF-IDF word and character n-grams, logistic regression; trained by agate on openly licensed data."}
		if err := train.Write(*out, cfg, res, info); err != nil {
			fmt.Fprintln(stderr, "agate train:", err)
			return 1
		}
		for _, c := range res.Categories {
			fmt.Fprintln(stdout, c)
		}
		for _, s := range res.Sources {
			fmt.Fprintf(stdout, "  validation %-32s %-3s %-9s %5d texts (%4d positive)  ROC-AUC %.4f\n", s.Source, s.Language, s.Category, s.Rows, s.Positives, s.AUC)
		}
		fmt.Fprintf(stdout, "wrote %s (%.0fs)\n", *out, time.Since(start).Seconds())
		return 0
	}
}
