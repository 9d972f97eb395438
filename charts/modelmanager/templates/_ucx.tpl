{{/* The UCX sidecar container (docs/ucx.md), shared by the proxy pods and the node DaemonSet
(called with a dict: "root", the chart's context; "hostPort", publish the port on the node).
It reads the cache volume only, and gets the cluster secret from the chart's Secret (or from the
file the proxy generated on the volume when that Secret has none). */}}
{{- define "modelmanager.ucxContainer" -}}
{{- $hostPort := .hostPort -}}
{{- with .root -}}
- name: ucx-sidecar
  image: "{{ .Values.ucx.image.repository }}:{{ .Values.ucx.image.tag | default .Chart.AppVersion }}"
  imagePullPolicy: {{ .Values.ucx.image.pullPolicy }}
  command: ["python", "-m", "ucx_sidecar"]
  args:
    - --cache={{ .Values.persistence.mountPath }}
    - --listen=0.0.0.0:{{ .Values.ucx.port }}
    - --engines={{ .Values.ucx.engines }}
  ports:
    - name: ucx
      containerPort: {{ .Values.ucx.port }}
      {{- if $hostPort }}
      hostPort: {{ .Values.ucx.port }}
      {{- end }}
      protocol: TCP
  env:
    - name: MODELMANAGER_CLUSTER_SECRET
      valueFrom:
        secretKeyRef:
          name: {{ include "modelmanager.secretName" . }}
          key: MODELMANAGER_CLUSTER_SECRET
          optional: true
    {{- range $name, $value := .Values.ucx.env }}
    - name: {{ $name }}
      value: {{ $value | quote }}
    {{- end }}
  readinessProbe:
    tcpSocket:
      port: ucx
    periodSeconds: 10
  resources:
    {{- toYaml .Values.ucx.resources | nindent 4 }}
  securityContext:
    {{- toYaml (.Values.ucx.securityContext | default .Values.securityContext) | nindent 4 }}
  volumeMounts:
    - name: cache
      mountPath: {{ .Values.persistence.mountPath }}
      readOnly: true
    - name: tmp
      mountPath: /tmp
{{- end }}
{{- end }}

{{- define "modelmanager.ucx.selectorLabels" -}}
app.kubernetes.io/name: {{ include "modelmanager.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: ucx-sidecar
{{- end }}
