//go:build tools

// Package tools pins helm, which tests lint, render and install the chart with.
package tools

import _ "helm.sh/helm/v3/cmd/helm"
