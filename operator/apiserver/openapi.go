package apiserver

import (
	"k8s.io/apimachinery/pkg/runtime"
	openapinamer "k8s.io/apiserver/pkg/endpoints/openapi"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/kube-openapi/pkg/common"
	"k8s.io/kube-openapi/pkg/validation/spec"

	viewsv1a1 "github.com/agentgateway/agentgateway-go/apis/views/v1alpha1"
	generatedopenapi "github.com/agentgateway/agentgateway-go/generated/openapi"
)

// definitionNamer names OpenAPI definitions the way the apiserver library does and tags the
// views with x-kubernetes-group-version-kind, which kubectl explain and server-side tooling
// look up by. generated/openapi keys the views by Go path (they have no OpenAPIModelName
// method) while the library's namer keys them by REST-friendly name, so without this mapping
// the views would carry no GVK and `kubectl explain effectiveconfig` would fail.
type definitionNamer struct {
	std    *openapinamer.DefinitionNamer
	goPath map[string]string // Go package path + "." + type name -> REST-friendly name
}

func newDefinitionNamer(s *runtime.Scheme) *definitionNamer {
	n := &definitionNamer{std: openapinamer.NewDefinitionNamer(s), goPath: map[string]string{}}
	for gvk, t := range s.AllKnownTypes() {
		friendly, err := s.ToOpenAPIDefinitionName(gvk)
		if err != nil {
			continue
		}
		n.goPath[t.PkgPath()+"."+t.Name()] = friendly
	}
	return n
}

func (n *definitionNamer) GetDefinitionName(name string) (string, spec.Extensions) {
	if friendly, ok := n.goPath[name]; ok {
		return n.std.GetDefinitionName(friendly)
	}
	return n.std.GetDefinitionName(name)
}

func openAPIConfigs() (*common.Config, *common.OpenAPIV3Config) {
	n := newDefinitionNamer(openAPIScheme)
	v2 := genericapiserver.DefaultOpenAPIConfig(generatedopenapi.GetOpenAPIDefinitions, openapinamer.NewDefinitionNamer(openAPIScheme))
	v2.GetDefinitionName = n.GetDefinitionName
	v2.Info.Title = "agentgateway views"
	v2.Info.Version = viewsv1a1.SchemeGroupVersion.Version

	v3 := genericapiserver.DefaultOpenAPIV3Config(generatedopenapi.GetOpenAPIDefinitions, openapinamer.NewDefinitionNamer(openAPIScheme))
	v3.GetDefinitionName = n.GetDefinitionName
	v3.Definitions = generatedopenapi.GetOpenAPIDefinitions(func(name string) spec.Ref {
		defName, _ := v3.GetDefinitionName(name)
		return spec.MustCreateRef("#/components/schemas/" + common.EscapeJsonPointer(defName))
	})
	v3.Info.Title = "agentgateway views"
	v3.Info.Version = viewsv1a1.SchemeGroupVersion.Version
	return v2, v3
}
