{{/* Names, labels and small shared fragments for the sipflow chart. */}}

{{- define "sipflow.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The prefix of every object name: the release name, unless it already contains the chart name. */}}
{{- define "sipflow.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "sipflow.operator.fullname" -}}
{{- printf "%s-operator" (include "sipflow.fullname" .) }}
{{- end }}

{{- define "sipflow.media.fullname" -}}
{{- printf "%s-media" (include "sipflow.fullname" .) }}
{{- end }}

{{- define "sipflow.operator.serviceAccountName" -}}
{{- if .Values.operator.serviceAccount.create }}
{{- default (include "sipflow.operator.fullname" .) .Values.operator.serviceAccount.name }}
{{- else }}
{{- required "operator.serviceAccount.name is required when operator.serviceAccount.create is false" .Values.operator.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "sipflow.media.serviceAccountName" -}}
{{- if .Values.media.serviceAccount.create }}
{{- default (include "sipflow.media.fullname" .) .Values.media.serviceAccount.name }}
{{- else }}
{{- required "media.serviceAccount.name is required when media.serviceAccount.create is false" .Values.media.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Labels on every object. Deliberately no app.kubernetes.io/instance on objects the operator generates (it writes its own). */}}
{{- define "sipflow.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "sipflow.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: sipflow
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "sipflow.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sipflow.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "sipflow.image" -}}
{{- $tag := default .root.Chart.AppVersion .root.Values.image.tag }}
{{- if .root.Values.image.registry }}
{{- printf "%s/%s:%s" .root.Values.image.registry .repository $tag }}
{{- else }}
{{- printf "%s:%s" .repository $tag }}
{{- end }}
{{- end }}

{{- define "sipflow.nonceKeySecretName" -}}
{{- if .Values.media.nonceKey.create }}
{{- printf "%s-nonce-key" (include "sipflow.fullname" .) }}
{{- else }}
{{- default (printf "%s-nonce-key" (include "sipflow.fullname" .)) .Values.media.nonceKey.existingSecret }}
{{- end }}
{{- end }}

{{/* The hardened container securityContext both images run with. */}}
{{- define "sipflow.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: 1000
runAsGroup: 1000
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
privileged: false
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "sipflow.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 1000
runAsGroup: 1000
fsGroup: 1000
seccompProfile:
  type: RuntimeDefault
{{- end }}
