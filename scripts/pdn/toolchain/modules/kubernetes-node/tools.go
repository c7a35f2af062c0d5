//go:build tools

// Package tools pins the node commands this wrapper module builds: the same k8s.io/kubernetes release
// as the control-plane unit, kept apart so that adding nodes does not rebuild the control plane.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kubeadm"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
