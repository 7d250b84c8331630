package server

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"testing"
)

var updatePostman = flag.Bool("update-postman", false, "rewrite docs/agate.postman_collection.json")

// TestPostmanCollection keeps docs/agate.postman_collection.json in step
// with the OpenAPI document: every operation is in it, with a body example
// for every operation that takes a body.
func TestPostmanCollection(t *testing.T) {
	b, err := PostmanCollection()
	if err != nil {
		t.Fatal(err)
	}
	const file = "../docs/agate.postman_collection.json"
	if *updatePostman {
		if err := os.WriteFile(file, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	stored, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (go test ./server -run TestPostmanCollection -update-postman writes it)", err)
	}
	if !bytes.Equal(stored, b) {
		t.Fatalf("%s is out of date with openapi.yaml: go test ./server -run TestPostmanCollection -update-postman", file)
	}
	var coll struct {
		Info struct{ Schema string }
		Item []struct {
			Name string
			Item []struct {
				Name    string
				Request struct {
					Method, URL string
					Body        *struct{ Raw string }
				}
			}
		}
	}
	if err := json.Unmarshal(stored, &coll); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range coll.Item {
		for _, it := range f.Item {
			n++
			if it.Request.Method == "POST" && (it.Request.Body == nil || !json.Valid([]byte(it.Request.Body.Raw))) {
				t.Errorf("%s: a POST without a JSON body example", it.Name)
			}
		}
	}
	if n < 20 || coll.Info.Schema == "" {
		t.Errorf("%d requests, schema %q", n, coll.Info.Schema)
	}
}
