{{/* Tag of both images: image.tag, else the chart's appVersion. */}}
{{- define "agentgateway-go.tag" -}}
{{- .Values.image.tag | default .Chart.AppVersion -}}
{{- end -}}

{{/* The operator image; a digest replaces the tag. */}}
{{- define "agentgateway-go.operatorImage" -}}
{{- if .Values.image.digest -}}
{{- printf "%s/operator@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s/operator:%s" .Values.image.repository (include "agentgateway-go.tag" .) -}}
{{- end -}}
{{- end -}}

{{/* The proxy image passed to --proxy-image; a digest replaces the tag. */}}
{{- define "agentgateway-go.proxyImage" -}}
{{- $repo := .Values.proxyImage.repository | default (printf "%s/proxy" .Values.image.repository) -}}
{{- if .Values.proxyImage.digest -}}
{{- printf "%s@%s" $repo .Values.proxyImage.digest -}}
{{- else -}}
{{- printf "%s:%s" $repo (.Values.proxyImage.tag | default (include "agentgateway-go.tag" .)) -}}
{{- end -}}
{{- end -}}
