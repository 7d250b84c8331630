package server

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// This file checks real responses against the embedded OpenAPI document
// with a small JSON Schema checker (the subset the document uses: $ref,
// type, enum, properties, required, additionalProperties, items, oneOf,
// minimum, maximum, minItems).

type apiDoc struct {
	raw   map[string]any
	paths []docPath
}

type docPath struct {
	template string
	re       *regexp.Regexp
	item     map[string]any
}

var (
	docOnce sync.Once
	theDoc  *apiDoc
	docErr  error
	// exercised records which (method, path template, status) the tests hit.
	exercised sync.Map
)

func loadDoc(t testing.TB) *apiDoc {
	t.Helper()
	docOnce.Do(func() {
		b, err := OpenAPI()
		if err != nil {
			docErr = err
			return
		}
		d := &apiDoc{}
		if err := json.Unmarshal(b, &d.raw); err != nil {
			docErr = err
			return
		}
		for tpl, item := range d.raw["paths"].(map[string]any) {
			pat := regexp.QuoteMeta(tpl)
			pat = regexp.MustCompile(`\\\{[a-z_]+\\\}`).ReplaceAllString(pat, `[^/]+`)
			d.paths = append(d.paths, docPath{template: tpl, re: regexp.MustCompile("^" + pat + "$"), item: item.(map[string]any)})
		}
		// Literal paths win over templated ones.
		sort.Slice(d.paths, func(i, j int) bool {
			return !strings.Contains(d.paths[i].template, "{") && strings.Contains(d.paths[j].template, "{")
		})
		theDoc = d
	})
	if docErr != nil {
		t.Fatal(docErr)
	}
	return theDoc
}

func (d *apiDoc) resolve(s any) map[string]any {
	m, _ := s.(map[string]any)
	for m != nil {
		ref, ok := m["$ref"].(string)
		if !ok {
			return m
		}
		var cur any = d.raw
		for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
			cur = cur.(map[string]any)[part]
		}
		m, _ = cur.(map[string]any)
	}
	return m
}

// checkResponse validates one response against the document.
func (d *apiDoc) checkResponse(t testing.TB, method, path string, status int, header http.Header, body []byte) {
	t.Helper()
	path = strings.SplitN(path, "?", 2)[0]
	var op map[string]any
	var tpl string
	for _, p := range d.paths {
		if p.re.MatchString(path) {
			tpl = p.template
			op, _ = p.item[strings.ToLower(method)].(map[string]any)
			break
		}
	}
	if op == nil {
		// Unknown route or wrong method: the generic error envelope.
		if status != http.StatusNotFound && status != http.StatusMethodNotAllowed {
			t.Errorf("%s %s: status %d on an undocumented operation", method, path, status)
			return
		}
		d.validate(t, method+" "+path, d.raw["components"].(map[string]any)["schemas"].(map[string]any)["ErrorBody"], body)
		return
	}
	exercised.Store(fmt.Sprintf("%s %s %d", method, tpl, status), true)
	resp := d.resolve(op["responses"].(map[string]any)[strconv.Itoa(status)])
	if resp == nil {
		t.Errorf("%s %s: status %d is not documented for %s", method, path, status, tpl)
		return
	}
	content, _ := resp["content"].(map[string]any)
	ct := header.Get("Content-Type")
	for mt, media := range content {
		if !strings.HasPrefix(ct, mt) {
			continue
		}
		if mt == "application/json" {
			d.validate(t, fmt.Sprintf("%s %s %d", method, path, status), media.(map[string]any)["schema"], body)
		}
		return
	}
	if len(content) > 0 {
		t.Errorf("%s %s %d: content type %q is not documented", method, path, status, ct)
	}
}

func (d *apiDoc) validate(t testing.TB, what string, schema any, body []byte) {
	t.Helper()
	var v any
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		t.Errorf("%s: body is not JSON: %v: %q", what, err, body)
		return
	}
	if errs := d.check(schema, v, "$"); len(errs) > 0 {
		t.Errorf("%s: response does not match the OpenAPI document:\n  %s\nbody: %s", what, strings.Join(errs, "\n  "), body)
	}
}

func (d *apiDoc) check(schema any, v any, at string) []string {
	s := d.resolve(schema)
	if len(s) == 0 {
		return nil
	}
	if alts, ok := s["oneOf"].([]any); ok {
		n := 0
		for _, a := range alts {
			if len(d.check(a, v, at)) == 0 {
				n++
			}
		}
		if n != 1 {
			return []string{fmt.Sprintf("%s: matches %d of the oneOf alternatives, want exactly 1", at, n)}
		}
		return nil
	}
	var errs []string
	if typ, ok := s["type"].(string); ok {
		if !hasType(v, typ) {
			if v == nil && s["nullable"] == true {
				return nil
			}
			return []string{fmt.Sprintf("%s: %v is not of type %s", at, v, typ)}
		}
	}
	if enum, ok := s["enum"].([]any); ok {
		found := false
		for _, e := range enum {
			found = found || fmt.Sprint(e) == fmt.Sprint(v)
		}
		if !found {
			errs = append(errs, fmt.Sprintf("%s: %v is not one of %v", at, v, enum))
		}
	}
	if n, ok := v.(json.Number); ok {
		f, _ := n.Float64()
		if mn, ok := s["minimum"].(float64); ok && f < mn {
			errs = append(errs, fmt.Sprintf("%s: %v < minimum %v", at, f, mn))
		}
		if mx, ok := s["maximum"].(float64); ok && f > mx {
			errs = append(errs, fmt.Sprintf("%s: %v > maximum %v", at, f, mx))
		}
	}
	switch val := v.(type) {
	case map[string]any:
		props, _ := s["properties"].(map[string]any)
		for _, r := range asSlice(s["required"]) {
			if _, ok := val[r.(string)]; !ok {
				errs = append(errs, fmt.Sprintf("%s: required property %q is missing", at, r))
			}
		}
		for k, pv := range val {
			if ps, ok := props[k]; ok {
				errs = append(errs, d.check(ps, pv, at+"."+k)...)
				continue
			}
			switch ap := s["additionalProperties"].(type) {
			case bool:
				if !ap {
					errs = append(errs, fmt.Sprintf("%s: property %q is not in the schema", at, k))
				}
			case map[string]any:
				errs = append(errs, d.check(ap, pv, at+"."+k)...)
			}
		}
	case []any:
		if mi, ok := s["minItems"].(float64); ok && float64(len(val)) < mi {
			errs = append(errs, fmt.Sprintf("%s: %d items < minItems %v", at, len(val), mi))
		}
		if items, ok := s["items"]; ok {
			for i, e := range val {
				errs = append(errs, d.check(items, e, fmt.Sprintf("%s[%d]", at, i))...)
			}
		}
	}
	return errs
}

func asSlice(v any) []any { s, _ := v.([]any); return s }

func hasType(v any, typ string) bool {
	switch typ {
	case "object":
		_, ok := v.(map[string]any)
		return ok
	case "array":
		_, ok := v.([]any)
		return ok
	case "string":
		_, ok := v.(string)
		return ok
	case "boolean":
		_, ok := v.(bool)
		return ok
	case "number":
		_, ok := v.(json.Number)
		return ok
	case "integer":
		n, ok := v.(json.Number)
		if !ok {
			return false
		}
		f, err := n.Float64()
		return err == nil && f == math.Trunc(f)
	}
	return false
}

// TestOpenAPIDocument checks the document itself: every $ref resolves and
// every operation has an id and documented responses.
func TestOpenAPIDocument(t *testing.T) {
	d := loadDoc(t)
	if d.raw["openapi"] != "3.0.3" {
		t.Errorf("openapi version %v", d.raw["openapi"])
	}
	var walk func(v any, at string)
	walk = func(v any, at string) {
		switch x := v.(type) {
		case map[string]any:
			if ref, ok := x["$ref"].(string); ok && d.resolve(x) == nil {
				t.Errorf("%s: $ref %s does not resolve", at, ref)
			}
			for k, e := range x {
				walk(e, at+"/"+k)
			}
		case []any:
			for i, e := range x {
				walk(e, fmt.Sprintf("%s[%d]", at, i))
			}
		}
	}
	walk(d.raw, "#")
	ids := map[string]bool{}
	for _, p := range d.paths {
		for method, op := range p.item {
			o := op.(map[string]any)
			id, _ := o["operationId"].(string)
			if id == "" || ids[id] {
				t.Errorf("%s %s: missing or duplicate operationId %q", method, p.template, id)
			}
			ids[id] = true
			if len(o["responses"].(map[string]any)) == 0 {
				t.Errorf("%s %s: no responses", method, p.template)
			}
		}
	}
	// The checker itself must reject what it should.
	bad := map[string]any{"error": map[string]any{"code": json.Number("400")}}
	if errs := d.check(d.raw["components"].(map[string]any)["schemas"].(map[string]any)["ErrorBody"], bad, "$"); len(errs) == 0 {
		t.Error("the schema checker accepted an error body without status/message/request_id")
	}
	if errs := d.check(map[string]any{"type": "integer"}, json.Number("1.5"), "$"); len(errs) == 0 {
		t.Error("the schema checker accepted 1.5 as an integer")
	}
}
