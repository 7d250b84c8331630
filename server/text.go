package server

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/agate-ml/agate/models"
	"github.com/gin-gonic/gin"
)

// ModelRef names the model that produced a response and the languages it
// was trained on (texts in other languages are scored too, with less
// reliability).
type ModelRef struct {
	Name      string   `json:"name"`
	Version   string   `json:"version"`
	Languages []string `json:"languages,omitempty"`
}

func modelRef(m *models.Model) ModelRef {
	return ModelRef{Name: m.Name, Version: m.Version, Languages: m.Manifest.Languages}
}

// ThresholdsInput overrides the level thresholds for one request (0-100).
type ThresholdsInput struct {
	Medium *float64 `json:"medium"`
	High   *float64 `json:"high"`
}

// AnalyzeRequest is the body of POST /analyze: text or texts, plus options.
type AnalyzeRequest struct {
	Text       *string          `json:"text"`
	Texts      []string         `json:"texts"`
	Language   string           `json:"language"`
	Categories []string         `json:"categories"`
	Thresholds *ThresholdsInput `json:"thresholds"`
	Spans      bool             `json:"spans"`
	// Explain asks for each word's exact contribution to each category's
	// logit (linear models only).
	Explain bool `json:"explain"`
}

// WordAttribution is one word's contribution to each category's logit;
// Begin and End are code point offsets into the text.
type WordAttribution struct {
	Word  string             `json:"word"`
	Begin int                `json:"begin"`
	End   int                `json:"end"`
	Logit map[string]float64 `json:"logit"`
}

// Attributions split each category's logit into the bias and one term per
// word: bias + Σ words + other = logit, and probability = sigmoid(logit).
// Words lists at most 64 words, those with the largest terms, in text
// order; Other sums the terms of the words left out (absent when none is).
type Attributions struct {
	Logit map[string]float64 `json:"logit"`
	Bias  map[string]float64 `json:"bias"`
	Words []WordAttribution  `json:"words"`
	Other map[string]float64 `json:"other,omitempty"`
}

// Span is the analysis of one sentence: character (code point) offsets
// [begin, end) in the text, its score, level and category probabilities.
type Span struct {
	Begin         int                `json:"begin"`
	End           int                `json:"end"`
	Score         float64            `json:"score"`
	ToxicityLevel string             `json:"toxicity_level"`
	Categories    map[string]float64 `json:"categories"`
}

// AnalyzeResult is the analysis of one text. Score is 100 × the largest
// category probability; ToxicityLevel is low, medium or high by the
// thresholds.
type AnalyzeResult struct {
	Score         float64            `json:"score"`
	ToxicityLevel string             `json:"toxicity_level"`
	Categories    map[string]float64 `json:"categories"`
	Spans         []Span             `json:"spans,omitempty"`
	Attributions  *Attributions      `json:"attributions,omitempty"`
	Tokens        int                `json:"tokens"`
	Truncated     bool               `json:"truncated"`
	Language      string             `json:"language,omitempty"`
	// LanguageSupported, given when the request names a language, says
	// whether the model was trained on it.
	LanguageSupported *bool    `json:"language_supported,omitempty"`
	ProcessingTimeMS  float64  `json:"processing_time_ms"`
	Model             ModelRef `json:"model"`
}

// AnalyzeBatchResponse is the response to a request with texts.
type AnalyzeBatchResponse struct {
	Results          []AnalyzeResult `json:"results"`
	ProcessingTimeMS float64         `json:"processing_time_ms"`
	Model            ModelRef        `json:"model"`
}

// textScore is one text's (or sentence's) probabilities per category.
type textScore struct {
	cats      map[string]float64
	tokens    int
	truncated bool
	spans     []spanScore
}

type spanScore struct {
	begin, end int
	cats       map[string]float64
}

// sentence is a span of a text, with rune offsets.
type sentence struct {
	begin, end int
	text       string
}

// splitSentences cuts text after runs of . ! ? … followed by a space, and
// at line breaks; offsets count code points and exclude surrounding spaces.
func splitSentences(text string) []sentence {
	var out []sentence
	runes := []rune(text)
	start := 0
	flush := func(end int) {
		b, e := start, end
		for b < e && unicode.IsSpace(runes[b]) {
			b++
		}
		for e > b && unicode.IsSpace(runes[e-1]) {
			e--
		}
		if e > b {
			out = append(out, sentence{begin: b, end: e, text: string(runes[b:e])})
		}
		start = end
	}
	for i := 0; i < len(runes); i++ {
		switch r := runes[i]; {
		case r == '\n' || r == '\r':
			flush(i + 1)
		case r == '.' || r == '!' || r == '?' || r == '…':
			j := i + 1
			for j < len(runes) && strings.ContainsRune(".!?…\"')»”’]", runes[j]) {
				j++
			}
			// French typography: "Oui. »" closes the quote after a space.
			if k := j; k+1 < len(runes) && unicode.IsSpace(runes[k]) && strings.ContainsRune("»”", runes[k+1]) {
				j = k + 2
			}
			if j == len(runes) || unicode.IsSpace(runes[j]) {
				flush(j)
				i = j - 1
			}
		}
	}
	flush(len(runes))
	return out
}

// categoriesOf maps a prediction's label scores to product categories; a
// category fed by several labels takes the largest.
func categoriesOf(m *models.Model, p models.Prediction) map[string]float64 {
	out := make(map[string]float64, len(p.Scores))
	labels := m.Text.Labels()
	for j, v := range p.Scores {
		cat := m.Manifest.Category(labels[j])
		if cat == "" {
			continue
		}
		if old, ok := out[cat]; !ok || v > old {
			out[cat] = v
		}
	}
	return out
}

// modelCategories lists the product categories a text model provides.
func modelCategories(m *models.Model) []string {
	var out []string
	for _, l := range m.Text.Labels() {
		if c := m.Manifest.Category(l); c != "" && !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return out
}

// scoreTexts tokenizes texts (and their sentences when spans is set) in the
// request goroutine, sends them through the model's batcher in chunks that
// respect the batch limits, and maps the outputs to categories.
func (s *Server) scoreTexts(ctx context.Context, rt *runtimeModel, texts []string, spans bool) ([]textScore, error) {
	tc := rt.m.Text
	type unit struct {
		text int
		sent *sentence
	}
	var units []unit
	var strs []string
	for i, t := range texts {
		units = append(units, unit{text: i})
		strs = append(strs, t)
	}
	if spans {
		for i, t := range texts {
			sents := splitSentences(t)
			if len(sents) < 2 {
				continue
			}
			for k := range sents {
				units = append(units, unit{text: i, sent: &sents[k]})
				strs = append(strs, sents[k].text)
			}
		}
	}
	// Every text and sentence waits in the model's queue: a request that
	// holds more than the queue ever can is refused for good (413), not
	// told to retry (429).
	if q := s.cfg.Batch.QueueSize; q > 0 && len(units) > q {
		return nil, &apiError{status: http.StatusRequestEntityTooLarge,
			msg:  fmt.Sprintf("the request has %d texts and sentences to score, more than the %d the model's queue holds", len(units), q),
			hint: "send fewer or shorter texts, or ask without spans"}
	}
	if rt.text.WouldRefuse(len(units)) {
		return nil, ErrQueueFull // before tokenizing
	}
	encs := make([]models.TextInput, len(strs))
	for i, str := range strs {
		e, err := tc.Encode(ctx, str)
		if err != nil {
			return nil, fmt.Errorf("text %d: %w", units[i].text, err)
		}
		encs[i] = e
	}
	preds := make([]models.Prediction, len(encs))
	// Chunks of at most maxItems encodings and MaxTokens padded tokens run
	// concurrently; the batcher may merge them with other requests.
	type chunk struct{ lo, hi, width int }
	var chunks []chunk
	cur := chunk{}
	for i, e := range encs {
		w := max(cur.width, e.Len())
		if cur.hi > cur.lo && (cur.hi-cur.lo+1 > s.maxItems || (cur.hi-cur.lo+1)*w > s.cfg.Batch.MaxTokens) {
			chunks = append(chunks, cur)
			cur, w = chunk{lo: i, hi: i}, e.Len()
		}
		cur.hi, cur.width = i+1, w
	}
	chunks = append(chunks, cur)
	errs := make([]error, len(chunks))
	var wg sync.WaitGroup
	for k, ch := range chunks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := rt.text.Submit(ctx, encs[ch.lo:ch.hi], ch.width)
			if err != nil {
				errs[k] = err
				return
			}
			copy(preds[ch.lo:ch.hi], out)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	res := make([]textScore, len(texts))
	for i, u := range units {
		cats := categoriesOf(rt.m, preds[i])
		if u.sent == nil {
			res[u.text].cats, res[u.text].tokens, res[u.text].truncated = cats, preds[i].Tokens, preds[i].Truncated
			continue
		}
		res[u.text].spans = append(res[u.text].spans, spanScore{begin: u.sent.begin, end: u.sent.end, cats: cats})
	}
	if spans {
		for i := range res {
			if res[i].spans == nil && len(texts[i]) > 0 {
				sents := splitSentences(texts[i])
				b, e := 0, len([]rune(texts[i]))
				if len(sents) == 1 {
					b, e = sents[0].begin, sents[0].end
				}
				res[i].spans = []spanScore{{begin: b, end: e, cats: res[i].cats}}
			}
		}
	}
	return res, nil
}

// textModel resolves the analysis model, or the 503 that says how to get
// it. The caller releases the model.
func (s *Server) textModel() (*runtimeModel, *apiError) {
	name := s.AnalyzeModel()
	rt, aerr := s.acquire(name, "")
	if aerr != nil {
		if aerr.status == http.StatusNotFound {
			hint := fmt.Sprintf("run `agate pull %s` and restart, or start with --model-dir pointing at a model folder and --analyze-model set to its name", name)
			if !s.Ready() {
				hint = "the server is still loading its models: retry shortly"
			}
			aerr = &apiError{status: http.StatusServiceUnavailable, msg: fmt.Sprintf("the toxicity model %q is not loaded", name), hint: hint, retryAfter: 1}
		} else if aerr.hint == "" && aerr.status == http.StatusServiceUnavailable {
			aerr.hint = fmt.Sprintf("run `agate pull %s`", name)
		}
		return nil, aerr
	}
	if rt.m.Text == nil {
		s.release(rt)
		return nil, errorf(http.StatusInternalServerError, "the analysis model %q is not a text classifier", name)
	}
	return rt, nil
}

// languageSupported reports whether the model lists the language (true
// when it lists none).
func languageSupported(m *models.Model, lang string) bool {
	if len(m.Manifest.Languages) == 0 {
		return true
	}
	p := primaryLanguage(lang)
	for _, l := range m.Manifest.Languages {
		if primaryLanguage(l) == p {
			return true
		}
	}
	return false
}

// maxExplainedWords is the most words listed in one text's attributions:
// the words with the largest contributions; the others are summed in
// Attributions.Other.
const maxExplainedWords = 64

// attributions explains text's logits per word for the categories cats.
// A category fed by several labels is explained through the label with the
// largest logit, the one its score comes from.
func attributions(m *models.Model, text string, cats []string) (*Attributions, error) {
	ex, err := m.Text.Explain(text)
	if err != nil {
		return nil, err
	}
	labels := m.Text.Labels()
	col := map[string]int{}
	for j, l := range labels {
		if c := m.Manifest.Category(l); c != "" && slices.Contains(cats, c) {
			if k, ok := col[c]; !ok || ex.Logits[j] > ex.Logits[k] {
				col[c] = j
			}
		}
	}
	pick := func(v []float64) map[string]float64 {
		out := make(map[string]float64, len(col))
		for c, j := range col {
			out[c] = round(v[j], 6)
		}
		return out
	}
	a := &Attributions{Logit: pick(ex.Logits), Bias: pick(ex.Bias)}
	// the words with the largest contribution to any explained category
	weight := func(w int) float64 {
		best := 0.0
		for _, j := range col {
			best = max(best, math.Abs(ex.Words[w].Logit[j]))
		}
		return best
	}
	keep := make([]int, len(ex.Words))
	for i := range keep {
		keep[i] = i
	}
	if len(keep) > maxExplainedWords {
		slices.SortStableFunc(keep, func(x, y int) int { return cmp.Compare(weight(y), weight(x)) })
		other := make([]float64, len(labels))
		for _, w := range keep[maxExplainedWords:] {
			for j := range other {
				other[j] += ex.Words[w].Logit[j]
			}
		}
		a.Other = pick(other)
		keep = keep[:maxExplainedWords]
		slices.Sort(keep)
	}
	a.Words = make([]WordAttribution, len(keep))
	for i, w := range keep {
		wd := ex.Words[w]
		a.Words[i] = WordAttribution{Word: wd.Word, Begin: wd.Begin, End: wd.End, Logit: pick(wd.Logit)}
	}
	return a, nil
}

func primaryLanguage(tag string) string {
	tag = strings.ToLower(strings.TrimSpace(tag))
	if i := strings.IndexAny(tag, "-_"); i > 0 {
		tag = tag[:i]
	}
	return tag
}

// checkLanguage refuses a language the model's manifest does not list, as
// the Perspective API does (/analyze scores every language instead).
func checkLanguage(m *models.Model, field, lang string) *apiError {
	if lang == "" || languageSupported(m, lang) {
		return nil
	}
	return fieldError(field, "model %q does not support language %q (it supports %s)", m.Name, lang, strings.Join(m.Manifest.Languages, ", "))
}

func (s *Server) checkTexts(texts []string, field string) *apiError {
	if len(texts) > s.cfg.MaxTexts {
		return fieldError(field, "at most %d texts per request, got %d", s.cfg.MaxTexts, len(texts))
	}
	for i, t := range texts {
		f := field
		if field == "texts" {
			f = fmt.Sprintf("texts[%d]", i)
		}
		if strings.TrimSpace(t) == "" {
			return fieldError(f, "must not be empty")
		}
		if len(t) > s.cfg.MaxTextBytes {
			return fieldError(f, "is %d bytes long, the limit is %d", len(t), s.cfg.MaxTextBytes)
		}
	}
	return nil
}

func round(v float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}

func ms(d time.Duration) float64 { return round(float64(d.Nanoseconds())/1e6, 3) }

func (s *Server) analyze(c *gin.Context) {
	start := time.Now()
	var req AnalyzeRequest
	if aerr := decodeJSON(c, &req); aerr != nil {
		abort(c, aerr)
		return
	}
	var texts []string
	switch {
	case req.Text != nil && req.Texts != nil:
		abort(c, fieldError("texts", "give either text or texts, not both"))
		return
	case req.Text != nil:
		texts = []string{*req.Text}
		if aerr := s.checkTexts(texts, "text"); aerr != nil {
			abort(c, aerr)
			return
		}
	case req.Texts != nil:
		if len(req.Texts) == 0 {
			abort(c, fieldError("texts", "must hold at least one text"))
			return
		}
		texts = req.Texts
		if aerr := s.checkTexts(texts, "texts"); aerr != nil {
			abort(c, aerr)
			return
		}
	default:
		abort(c, fieldError("text", "one of text or texts is required"))
		return
	}
	rt, aerr := s.textModel()
	if aerr != nil {
		abort(c, aerr)
		return
	}
	defer s.release(rt)
	m := rt.m
	if req.Explain && !m.Text.Linear() {
		abort(c, fieldError("explain", "model %q gives no exact word attributions (only linear text models such as agate-toxicity do)", m.Name))
		return
	}
	available := modelCategories(m)
	cats := available
	if req.Categories != nil {
		if len(req.Categories) == 0 {
			abort(c, fieldError("categories", "must name at least one category (or be left out)"))
			return
		}
		cats = nil
		for i, cat := range req.Categories {
			if !slices.Contains(available, cat) {
				abort(c, fieldError(fmt.Sprintf("categories[%d]", i), "unknown category %q; this model provides %s", cat, strings.Join(available, ", ")))
				return
			}
			if !slices.Contains(cats, cat) {
				cats = append(cats, cat)
			}
		}
	}
	th := m.Manifest.EffectiveThresholds()
	if req.Thresholds != nil {
		if req.Thresholds.Medium != nil {
			th.Medium = *req.Thresholds.Medium
		}
		if req.Thresholds.High != nil {
			th.High = *req.Thresholds.High
		}
		if th.Medium < 0 || th.Medium > 100 {
			abort(c, fieldError("thresholds.medium", "must be between 0 and 100, got %g", th.Medium))
			return
		}
		if th.High < 0 || th.High > 100 || th.High < th.Medium {
			abort(c, fieldError("thresholds.high", "must be between thresholds.medium (%g) and 100, got %g", th.Medium, th.High))
			return
		}
	}
	ctx, cancel := s.requestContext(c)
	defer cancel()
	scores, err := s.scoreTexts(ctx, rt, texts, req.Spans)
	if err != nil {
		abort(c, s.submitError(err))
		return
	}
	var attrs []*Attributions
	if req.Explain {
		attrs = make([]*Attributions, len(texts))
		for i, t := range texts {
			if err := c.Request.Context().Err(); err != nil {
				abort(c, s.submitError(err))
				return
			}
			a, err := attributions(m, t, cats)
			if err != nil {
				abort(c, errorf(http.StatusInternalServerError, "explaining text %d: %v", i, err))
				return
			}
			attrs[i] = a
		}
	}
	var langOK *bool
	if req.Language != "" {
		ok := languageSupported(m, req.Language)
		langOK = &ok
	}
	elapsed := ms(time.Since(start))
	ref := modelRef(m)
	pick := func(all map[string]float64) (map[string]float64, float64) {
		out := make(map[string]float64, len(cats))
		best := 0.0
		for _, cat := range cats {
			v := all[cat]
			out[cat] = round(v, 6)
			best = max(best, v)
		}
		return out, round(100*best, 2)
	}
	results := make([]AnalyzeResult, len(texts))
	for i, sc := range scores {
		catScores, score := pick(sc.cats)
		r := AnalyzeResult{Score: score, ToxicityLevel: th.Level(score), Categories: catScores, Tokens: sc.tokens,
			Truncated: sc.truncated, Language: req.Language, LanguageSupported: langOK, ProcessingTimeMS: elapsed, Model: ref}
		if attrs != nil {
			r.Attributions = attrs[i]
		}
		for _, sp := range sc.spans {
			sc, sscore := pick(sp.cats)
			r.Spans = append(r.Spans, Span{Begin: sp.begin, End: sp.end, Score: sscore, ToxicityLevel: th.Level(sscore), Categories: sc})
		}
		results[i] = r
	}
	if req.Text != nil {
		c.JSON(http.StatusOK, results[0])
		return
	}
	c.JSON(http.StatusOK, AnalyzeBatchResponse{Results: results, ProcessingTimeMS: elapsed, Model: ref})
}

// perspectiveAttrs maps Perspective API attributes to product categories.
var perspectiveAttrs = map[string]string{
	"TOXICITY": "toxicity", "SEVERE_TOXICITY": "severe_toxicity", "INSULT": "insult",
	"THREAT": "threat", "IDENTITY_ATTACK": "hate", "PROFANITY": "obscene",
}

// PerspectiveRequest is a Perspective API AnalyzeComment request.
type PerspectiveRequest struct {
	Comment *struct {
		Text *string `json:"text"`
		Type string  `json:"type"`
	} `json:"comment"`
	RequestedAttributes map[string]*struct {
		ScoreType      string   `json:"scoreType"`
		ScoreThreshold *float64 `json:"scoreThreshold"`
	} `json:"requestedAttributes"`
	Languages       []string `json:"languages"`
	SpanAnnotations bool     `json:"spanAnnotations"`
	DoNotStore      bool     `json:"doNotStore"`
	ClientToken     string   `json:"clientToken"`
	SessionID       string   `json:"sessionId"`
}

// PerspectiveScore is a score value and its type (always PROBABILITY).
type PerspectiveScore struct {
	Value float64 `json:"value"`
	Type  string  `json:"type"`
}

// PerspectiveSpanScore scores a span of the comment (code point offsets).
type PerspectiveSpanScore struct {
	Begin int              `json:"begin"`
	End   int              `json:"end"`
	Score PerspectiveScore `json:"score"`
}

// PerspectiveAttributeScore holds one attribute's scores.
type PerspectiveAttributeScore struct {
	SummaryScore PerspectiveScore       `json:"summaryScore"`
	SpanScores   []PerspectiveSpanScore `json:"spanScores,omitempty"`
}

// PerspectiveResponse is a Perspective API AnalyzeComment response.
type PerspectiveResponse struct {
	AttributeScores   map[string]PerspectiveAttributeScore `json:"attributeScores"`
	Languages         []string                             `json:"languages"`
	DetectedLanguages []string                             `json:"detectedLanguages,omitempty"`
	ClientToken       string                               `json:"clientToken,omitempty"`
}

func (s *Server) perspective(c *gin.Context) {
	var req PerspectiveRequest
	if aerr := decodeJSON(c, &req); aerr != nil {
		abort(c, aerr)
		return
	}
	if req.Comment == nil || req.Comment.Text == nil {
		abort(c, fieldError("comment.text", "is required"))
		return
	}
	if t := req.Comment.Type; t != "" && t != "PLAIN_TEXT" {
		abort(c, fieldError("comment.type", "only PLAIN_TEXT is supported, got %q", t))
		return
	}
	if aerr := s.checkTexts([]string{*req.Comment.Text}, "comment.text"); aerr != nil {
		abort(c, aerr)
		return
	}
	if len(req.RequestedAttributes) == 0 {
		abort(c, fieldError("requestedAttributes", "must request at least one attribute"))
		return
	}
	rt, aerr := s.textModel()
	if aerr != nil {
		abort(c, aerr)
		return
	}
	defer s.release(rt)
	m := rt.m
	available := modelCategories(m)
	names := make([]string, 0, len(req.RequestedAttributes))
	for name := range req.RequestedAttributes {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		opt := req.RequestedAttributes[name]
		cat, ok := perspectiveAttrs[name]
		if !ok || !slices.Contains(available, cat) {
			abort(c, fieldError("requestedAttributes."+name, "unsupported attribute; this server supports %s", strings.Join(s.supportedAttributes(available), ", ")))
			return
		}
		if opt == nil {
			continue
		}
		if opt.ScoreType != "" && opt.ScoreType != "PROBABILITY" {
			abort(c, fieldError("requestedAttributes."+name+".scoreType", "only PROBABILITY is supported, got %q", opt.ScoreType))
			return
		}
		if th := opt.ScoreThreshold; th != nil && (*th < 0 || *th > 1) {
			abort(c, fieldError("requestedAttributes."+name+".scoreThreshold", "must be between 0 and 1, got %g", *th))
			return
		}
	}
	langs := req.Languages
	for i, l := range langs {
		if aerr := checkLanguage(m, fmt.Sprintf("languages[%d]", i), l); aerr != nil {
			abort(c, aerr)
			return
		}
	}
	resp := PerspectiveResponse{AttributeScores: map[string]PerspectiveAttributeScore{}, Languages: langs, ClientToken: req.ClientToken}
	if len(langs) == 0 {
		// no language given and none detected (agate does not guess one):
		// the languages the model was trained on, and no detectedLanguages
		resp.Languages = m.Manifest.Languages
		if len(resp.Languages) == 0 {
			resp.Languages = []string{}
		}
	}
	ctx, cancel := s.requestContext(c)
	defer cancel()
	scores, err := s.scoreTexts(ctx, rt, []string{*req.Comment.Text}, req.SpanAnnotations)
	if err != nil {
		abort(c, s.submitError(err))
		return
	}
	sc := scores[0]
	for _, name := range names {
		cat := perspectiveAttrs[name]
		v := round(sc.cats[cat], 6)
		if opt := req.RequestedAttributes[name]; opt != nil && opt.ScoreThreshold != nil && v < *opt.ScoreThreshold {
			continue // Perspective leaves out attributes under the threshold
		}
		as := PerspectiveAttributeScore{SummaryScore: PerspectiveScore{Value: v, Type: "PROBABILITY"}}
		for _, sp := range sc.spans {
			as.SpanScores = append(as.SpanScores, PerspectiveSpanScore{Begin: sp.begin, End: sp.end,
				Score: PerspectiveScore{Value: round(sp.cats[cat], 6), Type: "PROBABILITY"}})
		}
		resp.AttributeScores[name] = as
	}
	c.JSON(http.StatusOK, resp)
}

func (s *Server) supportedAttributes(available []string) []string {
	var out []string
	for attr, cat := range perspectiveAttrs {
		if slices.Contains(available, cat) {
			out = append(out, attr)
		}
	}
	slices.Sort(out)
	return out
}
