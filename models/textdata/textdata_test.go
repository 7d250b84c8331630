package textdata

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func write(t *testing.T, dir, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestReadSources(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "a.csv", "\ufefftweet,sentiment,lang\n"+
		"hello,normal,en\n"+
		"\"va te faire, idiot\",offensive_hateful,fr\n"+
		"  ,abusive,fr\n"+ // empty text: skipped
		"caf\xe9 cr\xe8me,normal,fr\n"+ // Latin-1 bytes
		"no label,,fr\n") // an empty cell labels nothing
	write(t, dir, "b.jsonl", `{"text": "nice", "toxic": 0.1}`+"\n\n"+`{"text": "nasty", "toxic": 0.9}`+"\n"+`{"text": "unknown", "toxic": null}`+"\n")
	write(t, dir, "m.yaml", `data_dir: .
sources:
  - name: a
    path: ${DATA}/a.csv
    licence: MIT
    text_column: tweet
    language_column: lang
    labels:
      toxicity: {column: sentiment, negative: [normal]}
      hate: {column: sentiment, contains: [hateful]}
  - name: b
    path: b.jsonl
    licence: CC0-1.0
    language: en
    use: eval
    labels:
      toxicity: {column: toxic, threshold: 0.5}
`)
	m, err := ReadManifest(filepath.Join(dir, "m.yaml"), map[string]string{"DATA": dir})
	if err != nil {
		t.Fatal(err)
	}
	a, err := m.Sources[0].Read(m.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		text, lang string
		labels     map[string]int8
	}{
		{"hello", "en", map[string]int8{"toxicity": 0, "hate": 0}},
		{"va te faire, idiot", "fr", map[string]int8{"toxicity": 1, "hate": 1}},
		{"café crème", "fr", map[string]int8{"toxicity": 0, "hate": 0}},
	}
	if len(a) != len(want) {
		t.Fatalf("read %d rows, want %d: %+v", len(a), len(want), a)
	}
	for i, w := range want {
		if a[i].Text != w.text || a[i].Lang != w.lang || !reflect.DeepEqual(a[i].Labels, w.labels) || a[i].Source != "a" {
			t.Errorf("row %d: %+v, want %+v", i, a[i], w)
		}
	}
	b, err := m.Sources[1].Read(m.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != 2 || b[0].Labels["toxicity"] != 0 || b[1].Labels["toxicity"] != 1 || m.Sources[1].Use != UseEval {
		t.Errorf("jsonl rows %+v", b)
	}
}

func TestManifestErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct{ yaml, want string }{
		{"sources:\n  - {name: a, path: x.csv, licence: MIT}\n", "no labels"},
		{"sources:\n  - {name: a, path: x.csv, licence: MIT, use: train-ish, labels: {t: {column: c}}}\n", "use"},
		{"sources:\n  - {name: a, path: \"${NOPE}/x.csv\", labels: {t: {column: c}}}\n", "NOPE"},
		{"sources:\n  - {name: a, path: x.csv, labels: {t: {column: c}}}\n  - {name: a, path: y.csv, labels: {t: {column: c}}}\n", "twice"},
		{"sources:\n  - {name: a, path: x.csv, labels: {t: {}}}\n", "no column"},
		{"extra: 1\nsources: []\n", "extra"},
	}
	for i, tt := range tests {
		p := filepath.Join(dir, "m.yaml")
		write(t, dir, "m.yaml", tt.yaml)
		_, err := ReadManifest(p, nil)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("case %d: error %v, want one mentioning %q", i, err, tt.want)
		}
	}
}

func TestReadErrors(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "a.csv", "text,label\nhello,1\n")
	s := Source{Name: "a", Path: "a.csv", Format: "csv", Labels: map[string]LabelRule{"toxicity": {Column: "missing"}}}
	if _, err := s.Read(dir); err == nil || !strings.Contains(err.Error(), `"missing"`) {
		t.Errorf("missing label column: %v", err)
	}
	s.Labels = map[string]LabelRule{"toxicity": {Column: "label"}}
	s.Path = "absent.csv"
	if _, err := s.Read(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("absent file: %v", err)
	}
}

func TestCheckShippable(t *testing.T) {
	for lic, ok := range map[string]bool{"MIT": true, "CC-BY-4.0": true, "CC0-1.0 AND CC-BY-SA-3.0": true,
		"research-only": false, "CC-BY-NC-4.0": false, "": false} {
		s := Source{Name: "x", Licence: lic}
		err := s.CheckShippable()
		if (err == nil) != ok || (err != nil && !errors.Is(err, ErrLicence)) {
			t.Errorf("licence %q: %v", lic, err)
		}
	}
}

func TestInValidation(t *testing.T) {
	n, in := 10000, 0
	for i := range n {
		text := strings.Repeat("x", i%50) + string(rune('a'+i%26)) + strings.Repeat("y", i/26)
		if InValidation(text, 1, 0.2) {
			in++
		}
		if InValidation(text, 1, 0.2) != InValidation("  "+strings.ToUpper(text)+" !! 😀", 1, 0.2) {
			t.Fatalf("%q: case, punctuation and spaces move the text between splits", text)
		}
	}
	if in < 1800 || in > 2200 {
		t.Errorf("%d of %d texts in a 20%% validation split", in, n)
	}
	same := 0
	for i := range 1000 {
		text := strings.Repeat("z", i)
		if InValidation(text, 1, 0.5) == InValidation(text, 2, 0.5) {
			same++
		}
	}
	if same > 600 {
		t.Errorf("seeds 1 and 2 agree on %d of 1000 texts: the seed does not move the split", same)
	}
}
