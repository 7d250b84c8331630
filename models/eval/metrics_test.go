package eval

import (
	"errors"
	"math"
	"testing"
)

const eps = 1e-12

func TestMetricROCAUC(t *testing.T) {
	for _, tc := range []struct {
		name   string
		scores []float64
		labels []int8
		want   float64
	}{
		// scikit-learn's roc_auc_score example
		{"sklearn example", []float64{0.1, 0.4, 0.35, 0.8}, []int8{0, 0, 1, 1}, 0.75},
		// pairs (pos, neg): (.5,.5) ½, (.5,.2) 1, (.8,.5) 1, (.8,.2) 1 → 3.5/4
		{"tie across classes", []float64{0.5, 0.5, 0.2, 0.8}, []int8{1, 0, 0, 1}, 0.875},
		{"all tied", []float64{0.3, 0.3, 0.3}, []int8{1, 0, 1}, 0.5},
		// pos {.6,.6,.9}, neg {.6,.1}: (.6,.6)×2 ½ each, (.6,.1)×2, (.9,.6), (.9,.1) → 5/6
		{"ties within and across", []float64{0.6, 0.6, 0.9, 0.6, 0.1}, []int8{1, 1, 1, 0, 0}, 5.0 / 6},
		{"perfect", []float64{0.1, 0.2, 0.9, 0.8}, []int8{0, 0, 1, 1}, 1},
		{"inverted", []float64{0.9, 0.8, 0.1, 0.2}, []int8{0, 0, 1, 1}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ROCAUC(tc.scores, tc.labels)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(got-tc.want) > eps {
				t.Errorf("ROCAUC = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestMetricOneClass(t *testing.T) {
	for _, labels := range [][]int8{{1, 1, 1}, {0, 0, 0}} {
		scores := []float64{0.2, 0.5, 0.9}
		if v, err := ROCAUC(scores, labels); !errors.Is(err, ErrOneClass) || !math.IsNaN(v) {
			t.Errorf("ROCAUC(%v) = %v, %v; want NaN, ErrOneClass", labels, v, err)
		}
		if v, err := AveragePrecision(scores, labels); !errors.Is(err, ErrOneClass) || !math.IsNaN(v) {
			t.Errorf("AveragePrecision(%v) = %v, %v; want NaN, ErrOneClass", labels, v, err)
		}
	}
}

func TestMetricAveragePrecision(t *testing.T) {
	for _, tc := range []struct {
		name   string
		scores []float64
		labels []int8
		want   float64
	}{
		// scikit-learn's average_precision_score example: 0.8333…
		// (R,P) = (.5,1), (.5,.5), (1,2/3): .5·1 + 0 + .5·2/3
		{"sklearn example", []float64{0.1, 0.4, 0.35, 0.8}, []int8{0, 0, 1, 1}, 5.0 / 6},
		// step, not trapezoid: (R,P) = (.5,1), (.5,.5), (1,2/3) → 5/6
		// (the trapezoidal area would be .5·1 + .5·(.5+2/3)/2 = 0.7917)
		{"step interpolation", []float64{0.9, 0.8, 0.7}, []int8{1, 0, 1}, 5.0 / 6},
		// a tied threshold counts once: (.5,1) then (1,2/3)
		{"ties form one threshold", []float64{0.5, 0.5, 0.2, 0.8}, []int8{1, 0, 0, 1}, 0.5 + 0.5*2.0/3},
		{"perfect", []float64{0.1, 0.2, 0.9, 0.8}, []int8{0, 0, 1, 1}, 1},
		// positives last: (.5, 1/3), (1, 2/4)
		{"inverted", []float64{0.9, 0.8, 0.1, 0.2}, []int8{0, 0, 1, 1}, 0.5/3 + 0.5*0.5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := AveragePrecision(tc.scores, tc.labels)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(got-tc.want) > eps {
				t.Errorf("AveragePrecision = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestMetricConfusion(t *testing.T) {
	scores := []float64{0.9, 0.6, 0.5, 0.4, 0.1}
	labels := []int8{1, 0, 1, 1, 0}
	for _, tc := range []struct {
		threshold float64
		want      Confusion
		p, r, f1  float64
	}{
		{0.5, Confusion{TP: 2, FP: 1, TN: 1, FN: 1}, 2.0 / 3, 2.0 / 3, 2.0 / 3}, // 0.5 itself is positive
		{0.95, Confusion{TN: 2, FN: 3}, 0, 0, 0},
		{0, Confusion{TP: 3, FP: 2}, 0.6, 1, 0.75},
	} {
		c := ConfusionAt(scores, labels, tc.threshold)
		if c != tc.want {
			t.Errorf("ConfusionAt(%g) = %+v, want %+v", tc.threshold, c, tc.want)
		}
		if math.Abs(c.Precision()-tc.p) > eps || math.Abs(c.Recall()-tc.r) > eps || math.Abs(c.F1()-tc.f1) > eps {
			t.Errorf("at %g: P/R/F1 = %v/%v/%v, want %v/%v/%v", tc.threshold, c.Precision(), c.Recall(), c.F1(), tc.p, tc.r, tc.f1)
		}
	}
}

func TestMetricBestF1Threshold(t *testing.T) {
	for _, tc := range []struct {
		name          string
		scores        []float64
		labels        []int8
		threshold, f1 float64
	}{
		// F1 at .9 .8 .7 .6 .2: 1/2, 4/5, 2/3, 6/7, 3/4
		{"interior best", []float64{0.9, 0.8, 0.7, 0.6, 0.2}, []int8{1, 1, 0, 1, 0}, 0.6, 6.0 / 7},
		// F1 at .9 .8 .7 .6: 2/3, 1/2, 2/5, 2/3: the lower threshold wins the tie
		{"tie takes the lowest", []float64{0.9, 0.8, 0.7, 0.6}, []int8{1, 0, 0, 1}, 0.6, 2.0 / 3},
		// tied scores form one threshold: at .5 both rows are positive
		{"tied scores", []float64{0.5, 0.5, 0.1}, []int8{1, 0, 0}, 0.5, 2.0 / 3},
		{"perfect", []float64{0.2, 0.9, 0.8}, []int8{0, 1, 1}, 0.8, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			th, f1 := BestF1Threshold(tc.scores, tc.labels)
			if th != tc.threshold || math.Abs(f1-tc.f1) > eps {
				t.Errorf("BestF1Threshold = %v, %v; want %v, %v", th, f1, tc.threshold, tc.f1)
			}
		})
	}
	if th, f1 := BestF1Threshold([]float64{0.3, 0.7}, []int8{0, 0}); !math.IsInf(th, 1) || f1 != 0 {
		t.Errorf("no positives: %v, %v; want +Inf, 0", th, f1)
	}
}

// noisy returns n scores that separate labels imperfectly, with ties.
func noisy(n int) ([]float64, []int8) {
	scores := make([]float64, n)
	labels := make([]int8, n)
	for i := range n {
		labels[i] = int8(i % 3 % 2)
		// a deterministic, label-dependent score rounded to create ties
		s := math.Mod(float64(i)*0.6180339887, 1)
		if labels[i] == 1 {
			s = math.Min(1, s+0.3)
		}
		scores[i] = math.Round(s*20) / 20
	}
	return scores, labels
}

func TestMetricBootstrap(t *testing.T) {
	scores, labels := noisy(300)
	point, err := ROCAUC(scores, labels)
	if err != nil {
		t.Fatal(err)
	}
	a := Bootstrap(scores, labels, 500, 7, ROCAUC)
	b := Bootstrap(scores, labels, 500, 7, ROCAUC)
	if a != b {
		t.Errorf("same seed, different intervals: %v and %v", a, b)
	}
	if c := Bootstrap(scores, labels, 500, 8, ROCAUC); c == a {
		t.Errorf("seeds 7 and 8 give the same interval %v", a)
	}
	if !(a.Low < point && point < a.High) {
		t.Errorf("interval %v does not contain the point estimate %v", a, point)
	}
	if a.High-a.Low > 0.2 || a.High-a.Low < 0.01 {
		t.Errorf("interval %v has an implausible width for 300 rows", a)
	}
	ap, _ := AveragePrecision(scores, labels)
	if iv := Bootstrap(scores, labels, 500, 7, AveragePrecision); !(iv.Low < ap && ap < iv.High) {
		t.Errorf("PR-AUC interval %v does not contain %v", iv, ap)
	}
	if iv := Bootstrap(scores[:3], []int8{1, 1, 1}, 50, 1, ROCAUC); !math.IsNaN(iv.Low) || !math.IsNaN(iv.High) {
		t.Errorf("one class: %v, want NaN", iv)
	}
}
