//go:build tools

// Package tools pins the kine command this module builds, so `go mod tidy` keeps its deps.
package tools

import _ "github.com/k3s-io/kine"
