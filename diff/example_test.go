package diff_test

import (
	"encoding/json"
	"fmt"

	"github.com/keeptrusts/kt/diff"
)

// The changes member of an audit event whose policy was given as YAML
// text: the routes are matched by name, so the reordering is no change.
func ExampleCompare() {
	changes := []byte(`{
		"before": "routes:\n  - name: default\n    rpm: 600\n  - name: admin\n    rpm: 60\n",
		"after": "routes:\n  - name: admin\n    rpm: 60\n  - name: default\n    rpm: 1200\n  - name: batch\n    rpm: 10\n"
	}`)
	var c struct {
		Before json.RawMessage `json:"before"`
		After  json.RawMessage `json:"after"`
	}
	if err := json.Unmarshal(changes, &c); err != nil {
		panic(err)
	}
	r, err := diff.Compare(c.Before, c.After)
	if err != nil {
		panic(err)
	}
	fmt.Println("format:", r.Format)
	for _, ch := range r.Changes {
		fmt.Printf("%-8s %-25s %-14s %s -> %s\n", ch.Kind, ch.Path, ch.Pointer, ch.Before, ch.After)
	}
	patch, _ := json.Marshal(r.Patch)
	fmt.Println(string(patch))
	// Output:
	// format: yaml
	// modified routes[name=default].rpm  /routes/1/rpm  600 -> 1200
	// added    routes[name=batch]        /routes/2       -> {"name":"batch","rpm":10}
	// [{"op":"move","path":"/routes/0","from":"/routes/1"},{"op":"replace","path":"/routes/1/rpm","value":1200},{"op":"add","path":"/routes/2","value":{"name":"batch","rpm":10}}]
}

// Plain JSON objects: only the leaves that differ are reported.
func ExampleCompare_json() {
	r, err := diff.Compare(
		json.RawMessage(`{"rate_limit":{"rpm":600,"burst":10},"owner":"ops"}`),
		json.RawMessage(`{"rate_limit":{"rpm":1200,"burst":10},"owners":["ops"]}`))
	if err != nil {
		panic(err)
	}
	out, _ := json.Marshal(r.Changes)
	fmt.Println(string(out))
	// Output:
	// [{"path":"rate_limit.rpm","pointer":"/rate_limit/rpm","kind":"modified","before":600,"after":1200},{"path":"owner","pointer":"/owner","kind":"removed","before":"ops"},{"path":"owners","pointer":"/owners","kind":"added","after":["ops"]}]
}
