{{/* Names and labels shared by every template. */}}

{{- define "modelmanager.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "modelmanager.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "modelmanager.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{ include "modelmanager.selectorLabels" . }}
{{- end }}

{{- define "modelmanager.selectorLabels" -}}
app.kubernetes.io/name: {{ include "modelmanager.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: proxy
{{- end }}

{{- define "modelmanager.redis.selectorLabels" -}}
app.kubernetes.io/name: {{ include "modelmanager.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: redis
{{- end }}

{{- define "modelmanager.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "modelmanager.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "modelmanager.secretName" -}}
{{- default (include "modelmanager.fullname" .) .Values.secrets.existingSecret }}
{{- end }}

{{- define "modelmanager.claimName" -}}
{{- default (printf "%s-cache" (include "modelmanager.fullname" .)) .Values.persistence.existingClaim }}
{{- end }}

{{- define "modelmanager.s3Enabled" -}}
{{- if and (or .Values.s3.upstreamEndpoint .Values.s3.routes) .Values.s3.dedicatedPort }}true{{- end }}
{{- end }}

{{/* The in-cluster DNS name of the proxy Service. */}}
{{- define "modelmanager.host" -}}
{{- printf "%s.%s.svc.cluster.local" (include "modelmanager.fullname" .) .Release.Namespace }}
{{- end }}

{{/* Where the S3 routes file and the GCS service-account key are mounted. */}}
{{- define "modelmanager.s3RoutesDir" -}}/etc/modelmanager/s3-routes{{- end }}
{{- define "modelmanager.gcsCredentialsDir" -}}/var/run/secrets/modelmanager/gcs{{- end }}
