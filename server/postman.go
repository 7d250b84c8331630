package server

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// pathExamples fill the path parameters of the generated requests.
var pathExamples = map[string]string{"name": "demo-rf", "version": "1", "file": "swagger-ui-bundle.js"}

// PostmanCollection converts the OpenAPI document into a Postman v2.1
// collection: a folder per tag, a request per operation and request body
// example, against the {{baseUrl}} variable (http://localhost:8080).
func PostmanCollection() ([]byte, error) {
	var doc map[string]any
	if err := yaml.Unmarshal(openAPIYAML, &doc); err != nil {
		return nil, fmt.Errorf("openapi document: %w", err)
	}
	info, _ := doc["info"].(map[string]any)
	paths, _ := doc["paths"].(map[string]any)
	type item = map[string]any
	folders := map[string][]item{}
	var tags []string
	for _, p := range sortedKeys(paths) {
		ops, _ := paths[p].(map[string]any)
		for _, method := range sortedKeys(ops) {
			op, ok := ops[method].(map[string]any)
			if !ok {
				continue
			}
			tag := "other"
			if ts, _ := op["tags"].([]any); len(ts) > 0 {
				tag = fmt.Sprint(ts[0])
			}
			url := "{{baseUrl}}" + p
			for k, v := range pathExamples {
				url = strings.ReplaceAll(url, "{"+k+"}", v)
			}
			summary, _ := op["summary"].(string)
			bodies := requestExamples(doc, op)
			if len(bodies) == 0 {
				bodies = map[string]any{"": nil}
			}
			for _, ex := range sortedKeys(bodies) {
				name := summary
				if ex != "" && len(bodies) > 1 {
					name += " (" + ex + ")"
				}
				req := item{"method": strings.ToUpper(method), "url": url, "description": op["description"]}
				if body := bodies[ex]; body != nil {
					raw, err := json.MarshalIndent(body, "", "  ")
					if err != nil {
						return nil, fmt.Errorf("%s %s example %s: %w", method, p, ex, err)
					}
					req["header"] = []item{{"key": "Content-Type", "value": "application/json"}}
					req["body"] = item{"mode": "raw", "raw": string(raw), "options": item{"raw": item{"language": "json"}}}
				}
				if _, seen := folders[tag]; !seen {
					tags = append(tags, tag)
				}
				folders[tag] = append(folders[tag], item{"name": name, "request": req})
			}
		}
	}
	var items []item
	for _, tag := range tags {
		items = append(items, item{"name": tag, "item": folders[tag]})
	}
	coll := item{
		"info": item{"name": fmt.Sprint(info["title"]), "description": info["description"],
			"schema": "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"},
		"variable": []item{{"key": "baseUrl", "value": "http://localhost:8080"}},
		"item":     items,
	}
	b, err := json.MarshalIndent(coll, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// requestExamples returns an operation's JSON body examples by name.
func requestExamples(doc map[string]any, op map[string]any) map[string]any {
	rb, _ := op["requestBody"].(map[string]any)
	if ref, ok := rb["$ref"].(string); ok {
		rb = resolveRef(doc, ref)
	}
	content, _ := rb["content"].(map[string]any)
	media, _ := content["application/json"].(map[string]any)
	out := map[string]any{}
	if exs, ok := media["examples"].(map[string]any); ok {
		for name, e := range exs {
			if em, ok := e.(map[string]any); ok {
				out[name] = em["value"]
			}
		}
	}
	if ex, ok := media["example"]; ok {
		out["example"] = ex
	}
	return out
}

func resolveRef(doc map[string]any, ref string) map[string]any {
	var cur any = doc
	for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
		m, _ := cur.(map[string]any)
		cur = m[part]
	}
	out, _ := cur.(map[string]any)
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
