// Package crds tests the generated CustomResourceDefinitions against a real kube-apiserver:
// structural schemas, enums, bounds and x-kubernetes-validations rules reject what they should
// with the field path in the error, accept what they should, and `kubectl explain` documents them.
package crds
