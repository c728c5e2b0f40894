//go:build tools

// Package tools pins the kustomize command this module builds (the deploy/ kustomization's test renders with it).
package tools

import _ "sigs.k8s.io/kustomize/kustomize/v5"
