package apiserver

import (
	"fmt"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"

	viewsv1a1 "github.com/agentgateway/agentgateway-go/apis/views/v1alpha1"
	"github.com/agentgateway/agentgateway-go/operator/apiserver/registry/effectiveconfig"
	"github.com/agentgateway/agentgateway-go/operator/apiserver/registry/proxystatus"
)

var (
	// Scheme holds the views at v1alpha1 and, as the same Go types, at the internal version
	// the generic apiserver's handlers work with. The views have one version and no
	// conversions, so the internal version is the external one: registering the v1alpha1 types
	// again under __internal spares a copy of every type.
	Scheme = runtime.NewScheme()
	// Codecs serializes the views for the apiserver.
	Codecs = serializer.NewCodecFactory(Scheme)

	// openAPIScheme has the same types without the internal version, so the OpenAPI
	// definitions list only real group-version-kinds.
	openAPIScheme = runtime.NewScheme()
)

func init() {
	utilruntime.Must(viewsv1a1.AddToScheme(Scheme))
	internal := schema.GroupVersion{Group: viewsv1a1.GroupName, Version: runtime.APIVersionInternal}
	Scheme.AddKnownTypes(internal,
		&viewsv1a1.EffectiveConfig{}, &viewsv1a1.EffectiveConfigList{},
		&viewsv1a1.ProxyStatus{}, &viewsv1a1.ProxyStatusList{},
	)
	utilruntime.Must(Scheme.SetVersionPriority(viewsv1a1.SchemeGroupVersion))
	addFieldLabels(Scheme, "EffectiveConfig", effectiveconfig.SelectableFields)
	addFieldLabels(Scheme, "ProxyStatus", proxystatus.SelectableFields)

	// The unversioned types every apiserver serves (discovery, status).
	metav1.AddToGroupVersion(Scheme, schema.GroupVersion{Version: "v1"})
	unversioned := schema.GroupVersion{Group: "", Version: "v1"}
	Scheme.AddUnversionedTypes(unversioned,
		&metav1.Status{}, &metav1.APIVersions{}, &metav1.APIGroupList{}, &metav1.APIGroup{}, &metav1.APIResourceList{})

	utilruntime.Must(viewsv1a1.AddToScheme(openAPIScheme))
}

// addFieldLabels lets field selectors use the given fields besides metadata.name and
// metadata.namespace; any other field is rejected with 400 Bad Request.
func addFieldLabels(s *runtime.Scheme, kind string, extra []string) {
	utilruntime.Must(s.AddFieldLabelConversionFunc(viewsv1a1.SchemeGroupVersion.WithKind(kind),
		func(label, value string) (string, string, error) {
			if label == "metadata.name" || label == "metadata.namespace" || slices.Contains(extra, label) {
				return label, value, nil
			}
			return "", "", fmt.Errorf("field label %q is not supported for %s: use metadata.name, metadata.namespace or one of %v", label, kind, extra)
		}))
}
