//go:build tools

// Package tools pins the command this wrapper module builds.
package tools

import _ "github.com/vmware-tanzu/velero-plugin-for-aws/velero-plugin-for-aws"
