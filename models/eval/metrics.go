// Package eval measures binary classifiers: ROC-AUC, PR-AUC (average
// precision), precision, recall and F1 at a threshold, and bootstrap
// confidence intervals, over labelled texts grouped by file, language and
// source.
package eval

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
)

// ErrOneClass is returned by ROCAUC and AveragePrecision when the labels
// hold only one class.
var ErrOneClass = errors.New("eval: the labels hold only one class")

// ROCAUC is the area under the ROC curve of scores against labels (1
// positive, 0 negative): the probability that a random positive scores
// above a random negative, ties counting one half.
func ROCAUC(scores []float64, labels []int8) (float64, error) {
	idx := order(scores)
	var pos, neg float64
	for _, l := range labels {
		if l == 1 {
			pos++
		} else {
			neg++
		}
	}
	if pos == 0 || neg == 0 {
		return math.NaN(), ErrOneClass
	}
	// sum of the positives' (mid-)ranks, ascending
	var rankSum float64
	for i := 0; i < len(idx); {
		j := i
		for j < len(idx) && scores[idx[j]] == scores[idx[i]] {
			j++
		}
		mid := float64(i+j+1) / 2 // ranks i+1..j
		for k := i; k < j; k++ {
			if labels[idx[k]] == 1 {
				rankSum += mid
			}
		}
		i = j
	}
	return (rankSum - pos*(pos+1)/2) / (pos * neg), nil
}

// AveragePrecision is the area under the precision-recall curve as
// scikit-learn computes it: Σ (R_k − R_{k−1}) · P_k over thresholds at
// each distinct score, highest first.
func AveragePrecision(scores []float64, labels []int8) (float64, error) {
	pos := positives(labels)
	if pos == 0 || pos == len(labels) {
		return math.NaN(), ErrOneClass
	}
	var ap, lastRecall float64
	thresholds(scores, labels, func(_ float64, tp, fp int) {
		recall := float64(tp) / float64(pos)
		ap += (recall - lastRecall) * float64(tp) / float64(tp+fp)
		lastRecall = recall
	})
	return ap, nil
}

// positives counts the labels that are 1.
func positives(labels []int8) int {
	n := 0
	for _, l := range labels {
		if l == 1 {
			n++
		}
	}
	return n
}

// thresholds calls fn for each distinct score, highest first, with the
// true and false positives of the decision score ≥ that score.
func thresholds(scores []float64, labels []int8, fn func(score float64, tp, fp int)) {
	idx := order(scores)
	slices.Reverse(idx)
	tp, fp := 0, 0
	for i := 0; i < len(idx); {
		j := i
		for j < len(idx) && scores[idx[j]] == scores[idx[i]] {
			if labels[idx[j]] == 1 {
				tp++
			} else {
				fp++
			}
			j++
		}
		fn(scores[idx[i]], tp, fp)
		i = j
	}
}

// order returns the indexes of scores sorted ascending (stable).
func order(scores []float64) []int {
	idx := make([]int, len(scores))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return scores[idx[a]] < scores[idx[b]] })
	return idx
}

// Confusion counts decisions at a threshold (score ≥ threshold is
// positive).
type Confusion struct {
	TP, FP, TN, FN int
}

// ConfusionAt counts the decisions of scores at threshold.
func ConfusionAt(scores []float64, labels []int8, threshold float64) Confusion {
	var c Confusion
	for i, s := range scores {
		switch pred, pos := s >= threshold, labels[i] == 1; {
		case pred && pos:
			c.TP++
		case pred:
			c.FP++
		case pos:
			c.FN++
		default:
			c.TN++
		}
	}
	return c
}

// Precision is TP / (TP + FP), 0 when nothing is predicted positive.
func (c Confusion) Precision() float64 { return ratio(c.TP, c.TP+c.FP) }

// Recall is TP / (TP + FN), 0 without positives.
func (c Confusion) Recall() float64 { return ratio(c.TP, c.TP+c.FN) }

// F1 is the harmonic mean of precision and recall.
func (c Confusion) F1() float64 { return ratio(2*c.TP, 2*c.TP+c.FP+c.FN) }

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// BestF1Threshold returns the threshold among the scores that maximises F1
// (the lowest such threshold on ties) and that F1.
func BestF1Threshold(scores []float64, labels []int8) (threshold, f1 float64) {
	pos := positives(labels)
	threshold = math.Inf(1)
	thresholds(scores, labels, func(score float64, tp, fp int) {
		if f := ratio(2*tp, tp+fp+pos); f > f1 || (f == f1 && f > 0) {
			threshold, f1 = score, f
		}
	})
	return threshold, f1
}

// Interval is a bootstrap confidence interval.
type Interval struct {
	Low, High float64
}

// Bootstrap resamples (scores, labels) with replacement n times with a
// seeded generator and returns the central 95% interval of metric over the
// resamples (resamples where metric fails, such as one class only, are
// left out).
func Bootstrap(scores []float64, labels []int8, n int, seed uint64, metric func([]float64, []int8) (float64, error)) Interval {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	vals := make([]float64, 0, n)
	s := make([]float64, len(scores))
	l := make([]int8, len(labels))
	for range n {
		for i := range s {
			k := r.IntN(len(scores))
			s[i], l[i] = scores[k], labels[k]
		}
		if v, err := metric(s, l); err == nil && !math.IsNaN(v) {
			vals = append(vals, v)
		}
	}
	return centralInterval(vals)
}

// centralInterval returns the central 95% of vals (sorted in place),
// interpolating between order statistics; NaNs when vals is empty.
func centralInterval(vals []float64) Interval {
	if len(vals) == 0 {
		return Interval{math.NaN(), math.NaN()}
	}
	slices.Sort(vals)
	q := func(p float64) float64 {
		pos := p * float64(len(vals)-1)
		lo := int(math.Floor(pos))
		hi := min(lo+1, len(vals)-1)
		return vals[lo] + (vals[hi]-vals[lo])*(pos-float64(lo))
	}
	return Interval{q(0.025), q(0.975)}
}
