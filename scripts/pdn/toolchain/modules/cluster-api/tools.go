//go:build tools

// Package tools pins the Cluster API managers this wrapper module builds: the core controllers,
// the kubeadm bootstrap and control-plane providers, and the Docker infrastructure provider (CAPD).
package tools

import (
	_ "sigs.k8s.io/cluster-api/bootstrap/kubeadm"
	_ "sigs.k8s.io/cluster-api/controlplane/kubeadm"
	_ "sigs.k8s.io/cluster-api/core"
	_ "sigs.k8s.io/cluster-api/test/infrastructure/docker"
)
