//go:build tools

// Package tools pins KWOK, which fakes a node and its pods' lifecycle against the real API server.
package tools

import _ "sigs.k8s.io/kwok/cmd/kwok"
