// Package configs holds the embedded default config of `kt agent` and the
// example configs; a test validates every one.
package configs

import _ "embed"

// Default is the config `kt agent` runs without --config.
//
//go:embed default.hcl
var Default []byte

// Example is a production-shaped example config.
//
//go:embed example.hcl
var Example []byte
