//go:build tools

// Package tools pins etcd, kept apart from the Kubernetes module so that neither
// forces its versions of shared dependencies (grpc, otel) on the other.
package tools

import _ "go.etcd.io/etcd/server/v3"
