package textfeat

import (
	"bytes"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func testNorm() Normalization {
	return Normalization{NFKC: true, Lowercase: true, StripAccents: true, CollapseRepeats: 2,
		URLToken: "_url_", MentionToken: "_user_", FixMojibake: true}
}

func TestWords(t *testing.T) {
	n := testNorm()
	tests := []struct {
		text string
		want []Word
	}{
		{"Ce commentaire est MÉCHANT", []Word{{"ce", 0, 2}, {"commentaire", 3, 14}, {"est", 15, 18}, {"mechant", 19, 26}}},
		{"trooooop nuuul!!!", []Word{{"troop", 0, 8}, {"nuul", 9, 14}}},
		{"@jean regarde https://x.fr/a?b=1 ok", []Word{{"_user_", 0, 5}, {"regarde", 6, 13}, {"_url_", 14, 32}, {"ok", 33, 35}}},
		{"l'autre c'est un ﬁls", []Word{{"l", 0, 1}, {"autre", 2, 7}, {"c", 8, 9}, {"est", 10, 13}, {"un", 14, 16}, {"fils", 17, 20}}},
		{"nul🤮vraiment", []Word{{"nul", 0, 3}, {"🤮", 3, 4}, {"vraiment", 4, 12}}},
		{"mÃªme pas", []Word{{"meme", 0, 5}, {"pas", 6, 9}}},
		{"  \t\n ", nil},
		{"Ｆｕｌｌ", []Word{{"full", 0, 4}}},
		// invisible characters do not split words
		{"con\u200bnard id\u00adiot \u2060x", []Word{{"connard", 0, 8}, {"idiot", 9, 15}, {"x", 16, 18}}},
		// invalid UTF-8: each bad byte is one code point, never a panic
		{"\xff", nil},
		{"ok \ufffd", []Word{{"ok", 0, 2}}},
		{"a\xffb", []Word{{"a", 0, 1}, {"b", 2, 3}}},
		{"abc\xe2\x82", []Word{{"abc", 0, 3}}},
		// marks of other scripts are kept; accents of Latin letters go
		{"हिन्दी café", []Word{{"हिन्दी", 0, 6}, {"cafe", 7, 11}}},
		// offsets point into the text as sent, before mojibake repair
		{"mÃªme connard", []Word{{"meme", 0, 5}, {"connard", 6, 13}}},
	}
	for _, tt := range tests {
		got := n.Words(tt.text)
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Words(%q) = %v, want %v", tt.text, got, tt.want)
		}
	}
}

func TestWordsKeepAccents(t *testing.T) {
	n := testNorm()
	n.StripAccents = false
	if got := n.Words("Méchant"); len(got) != 1 || got[0].Norm != "méchant" {
		t.Errorf("Words = %v, want méchant", got)
	}
}

func TestFixMojibake(t *testing.T) {
	tests := map[string]string{
		"mÃªme":           "même",
		"Ã§a va":          "ça va",
		"Ã©tÃ©":           "été",
		"C’est":           "C’est", // already UTF-8
		"Ãtat":            "Ãtat",  // not valid once re-encoded
		"plain ascii":     "plain ascii",
		"Ã©tÃ© â€œoui â€": "été “oui â€", // ends in a broken sequence: left alone
	}
	for in, want := range tests {
		if in == "Ã©tÃ© â€œoui â€" {
			if got := FixMojibake(in); got != in {
				t.Errorf("FixMojibake(%q) = %q, want it unchanged", in, got)
			}
			continue
		}
		if got := FixMojibake(in); got != want {
			t.Errorf("FixMojibake(%q) = %q, want %q", in, got, want)
		}
	}
}

func testSpec(vocab ...string) *Spec {
	s := &Spec{Format: Format, Normalization: testNorm(), WordNgrams: [2]int{1, 2}, MinWordRunes: 2, CharNgrams: [2]int{2, 3}}
	s.Lexicon = s.NormalizeLexicon([]string{"Connard", "fils de pute", "!d!ot"})
	s.Vocabulary = vocab
	return s
}

func keys(t *testing.T, s *Spec, text string) []string {
	t.Helper()
	f, err := New(s)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	f.VisitKeys(text, func(o Occurrence) { out = append(out, string(o.AppendKey(nil))) })
	return out
}

func TestVisitKeys(t *testing.T) {
	got := keys(t, testSpec(), "Un connard")
	want := []string{
		"wun", "wun connard", "wconnard", // word 1-2-grams
		"c u", "cun", "cn ", "c un", "cun ", // " un " 2- and 3-grams
		"c c", "cco", "con", "cnn", "cna", "car", "crd", "cd ", // " connard " 2-grams
		"c co", "ccon", "conn", "cnna", "cnar", "card", "crd ", // 3-grams
		"L", // lexicon: "connard"
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("keys:\n got %q\nwant %q", got, want)
	}
}

func TestShortWordCharNgrams(t *testing.T) {
	// a padded word shorter than n yields itself once, like scikit-learn's
	// char_wb analyzer
	s := testSpec()
	s.WordNgrams = [2]int{0, 0}
	s.CharNgrams = [2]int{3, 5}
	s.Lexicon = nil
	got := keys(t, s, "a")
	if want := []string{"c a "}; !slices.Equal(got, want) {
		t.Errorf("keys(a) = %q, want %q", got, want)
	}
}

func TestLexiconPhrases(t *testing.T) {
	s := testSpec()
	f, err := New(s)
	if err != nil {
		t.Fatal(err)
	}
	fs := f.Featurize("Espèce de FILS DE PUTE, connard, id!ot", Features{})
	if fs.Lexicon != 2 {
		t.Errorf("lexicon hits = %v, want 2 (the phrase and connard)", fs.Lexicon)
	}
	_, occ := f.Occurrences("espece de fils de pute")
	var lex []WordOccurrence
	for _, o := range occ {
		if o.ID == LexiconID {
			lex = append(lex, o)
		}
	}
	if want := []WordOccurrence{{LexiconID, 2, 4}}; !reflect.DeepEqual(lex, want) {
		t.Errorf("lexicon occurrences = %v, want %v", lex, want)
	}
}

func TestFeaturize(t *testing.T) {
	s := testSpec("c n", "cna", "wnul", "wnul nul", "wzut")
	f, err := New(s)
	if err != nil {
		t.Fatal(err)
	}
	fs := f.Featurize("NUL nul", Features{})
	// "cna" never occurs: ids with zero count are not listed
	want := Features{IDs: []int64{1, 3, 4}, Counts: []float32{2, 2, 1}}
	if !reflect.DeepEqual(fs, want) {
		t.Errorf("Featurize = %+v, want %+v", fs, want)
	}
	if fs := f.Featurize("", Features{}); len(fs.IDs) != 0 || fs.Lexicon != 0 {
		t.Errorf("empty text: %+v", fs)
	}
	// reusing dst's slices
	dst := Features{IDs: make([]int64, 0, 8), Counts: make([]float32, 0, 8)}
	dst = f.Featurize("zut nul", dst)
	if !reflect.DeepEqual(dst.IDs, []int64{1, 3, 5}) {
		t.Errorf("reused: %+v", dst)
	}
}

func TestFeaturizeAllocs(t *testing.T) {
	s := testSpec()
	f0, _ := New(s)
	var vocab []string
	seen := map[string]bool{}
	text := "Ce commentaire est vraiment méchant et insultant, espèce de connard"
	f0.VisitKeys(text, func(o Occurrence) {
		if k := string(o.AppendKey(nil)); !seen[k] && k != LexiconKey {
			seen[k] = true
			vocab = append(vocab, k)
		}
	})
	f, err := New(testSpec(vocab...))
	if err != nil {
		t.Fatal(err)
	}
	dst := f.Featurize(text, Features{})
	if dst.Len() != len(vocab) {
		t.Fatalf("%d features, want %d", dst.Len(), len(vocab))
	}
	allocs := testing.AllocsPerRun(100, func() { dst = f.Featurize(text, dst) })
	// the words' normalised strings are the only allocations, with three
	// inside x/text/unicode/norm for the accented words
	if max := float64(len(f.Words(text))) + 3; allocs > max {
		t.Errorf("Featurize allocates %v times per text, want at most %v", allocs, max)
	}
}

func TestSpecRoundTrip(t *testing.T) {
	s := testSpec("c a", "wb", `w"quoted"`)
	var buf bytes.Buffer
	if err := s.Encode(&buf); err != nil {
		t.Fatal(err)
	}
	got, err := DecodeSpec(&buf)
	if err != nil {
		t.Fatalf("%v\n%s", err, buf.String())
	}
	if !reflect.DeepEqual(got, s) {
		t.Errorf("round trip: got %+v, want %+v", got, s)
	}
}

func TestSpecErrors(t *testing.T) {
	tests := []struct {
		json, want string
	}{
		{`{"format": "other"}`, "format"},
		{`{"format": "agate.textfeat/1", "word_ngrams": [2, 1]}`, "word_ngrams"},
		{`{"format": "agate.textfeat/1", "char_ngrams": [0, 3]}`, "char_ngrams"},
		{`{"format": "agate.textfeat/1", "unknown": 1}`, "unknown"},
		{`{"format": "agate.textfeat/1", "vocabulary": ["a", "a"]}`, "twice"},
	}
	for _, tt := range tests {
		s, err := DecodeSpec(strings.NewReader(tt.json))
		if err == nil {
			_, err = New(s)
		}
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one mentioning %q", tt.json, err, tt.want)
		}
	}
}
