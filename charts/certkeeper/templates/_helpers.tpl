{{/* Chart name, truncated to the 63 characters of a DNS label. */}}
{{- define "certkeeper.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name: the release name, with the chart name unless the release name already contains it.
*/}}
{{- define "certkeeper.fullname" -}}
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

{{- define "certkeeper.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "certkeeper.labels" -}}
helm.sh/chart: {{ include "certkeeper.chart" . }}
{{ include "certkeeper.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "certkeeper.selectorLabels" -}}
app.kubernetes.io/name: {{ include "certkeeper.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Pods behind the Service (the responders). The CronJob's pods carry another component, so the
Service never routes a challenge to a `renew` pod that does not listen.
*/}}
{{- define "certkeeper.serverSelectorLabels" -}}
{{ include "certkeeper.selectorLabels" . }}
app.kubernetes.io/component: server
{{- end }}

{{- define "certkeeper.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "certkeeper.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "certkeeper.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* The responder's container port: unprivileged, since the container runs as non-root. */}}
{{- define "certkeeper.httpPort" -}}8080{{- end }}
{{- define "certkeeper.adminPort" -}}9090{{- end }}

{{/* Settings every command reads: where certkeeper lives and how it logs. */}}
{{- define "certkeeper.env.common" -}}
- name: POD_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
- name: CERTKEEPER_LOG_FORMAT
  value: json
- name: CERTKEEPER_LOG_LEVEL
  value: {{ .Values.logLevel | quote }}
{{- end }}

{{/* Settings of a pass (`run` and `renew`): ACME account, selection, solver, self-check. */}}
{{- define "certkeeper.env.pass" -}}
# The holder identity in the pass lock and leader Leases.
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: CERTKEEPER_SERVICE_NAME
  value: {{ include "certkeeper.fullname" . | quote }}
- name: CERTKEEPER_SERVICE_PORT
  value: {{ .Values.service.port | quote }}
- name: CERTKEEPER_DIRECTORY
  value: {{ .Values.acme.server | quote }}
{{- with .Values.acme.email }}
- name: CERTKEEPER_EMAIL
  value: {{ . | quote }}
{{- end }}
{{- with .Values.acme.eab.kid }}
- name: CERTKEEPER_EAB_KID
  value: {{ . | quote }}
{{- end }}
{{- with .Values.acme.eab.hmacKeySecretRef }}
{{- if .name }}
- name: CERTKEEPER_EAB_HMAC_KEY
  valueFrom:
    secretKeyRef:
      name: {{ .name | quote }}
      key: {{ .key | quote }}
{{- end }}
{{- end }}
- name: CERTKEEPER_ALL_INGRESSES
  value: {{ .Values.allIngresses | quote }}
{{- with .Values.ingressClass }}
- name: CERTKEEPER_INGRESS_CLASS
  value: {{ . | quote }}
{{- end }}
- name: CERTKEEPER_SOLVER_PATH_TYPE
  value: {{ .Values.solver.pathType | quote }}
{{- with .Values.solver.annotations }}
- name: CERTKEEPER_SOLVER_ANNOTATIONS
  value: {{ $pairs := list }}{{ range $k, $v := . }}{{ $pairs = append $pairs (printf "%s=%s" $k $v) }}{{ end }}{{ join "," $pairs | quote }}
{{- end }}
- name: CERTKEEPER_SELF_CHECK
  value: {{ .Values.selfCheck | quote }}
{{- with .Values.selfCheckAddress }}
- name: CERTKEEPER_SELF_CHECK_ADDRESS
  value: {{ . | quote }}
{{- end }}
{{- end }}

{{/* Settings of the cron service only: schedule, leadership, admin port, alert channels. */}}
{{- define "certkeeper.env.run" -}}
- name: CERTKEEPER_ADMIN_PORT
  value: {{ include "certkeeper.adminPort" . | quote }}
- name: CERTKEEPER_SCHEDULE
  value: {{ .Values.schedule | quote }}
- name: CERTKEEPER_TIMEZONE
  value: {{ .Values.timezone | quote }}
- name: CERTKEEPER_RUN_ON_START
  value: {{ .Values.runOnStart | quote }}
- name: CERTKEEPER_LEADER_ELECTION
  value: {{ .Values.leaderElection | quote }}
{{- with .Values.alerts.webhook }}
{{- if .urlSecretRef.name }}
- name: CERTKEEPER_WEBHOOK_URL
  valueFrom:
    secretKeyRef:
      name: {{ .urlSecretRef.name | quote }}
      key: {{ .urlSecretRef.key | quote }}
- name: CERTKEEPER_WEBHOOK_FORMAT
  value: {{ .format | quote }}
{{- end }}
{{- end }}
{{- with .Values.alerts.email }}
{{- if .host }}
- name: CERTKEEPER_SMTP_HOST
  value: {{ .host | quote }}
- name: CERTKEEPER_SMTP_PORT
  value: {{ .port | quote }}
- name: CERTKEEPER_SMTP_SECURITY
  value: {{ .security | quote }}
{{- with .user }}
- name: CERTKEEPER_SMTP_USER
  value: {{ . | quote }}
{{- end }}
{{- if .passwordSecretRef.name }}
- name: CERTKEEPER_SMTP_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .passwordSecretRef.name | quote }}
      key: {{ .passwordSecretRef.key | quote }}
{{- end }}
{{- with .from }}
- name: CERTKEEPER_SMTP_FROM
  value: {{ . | quote }}
{{- end }}
- name: CERTKEEPER_SMTP_TO
  value: {{ join "," .to | quote }}
{{- end }}
{{- end }}
{{- end }}

{{/* The pod-level settings shared by the Deployment and the CronJob. */}}
{{- define "certkeeper.podPlacement" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.priorityClassName }}
priorityClassName: {{ . | quote }}
{{- end }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* Refuses combinations that would render objects that cannot work. */}}
{{- define "certkeeper.validate" -}}
{{- if and (eq .Values.mode "cronjob") (or .Values.metrics.serviceMonitor.enabled .Values.metrics.prometheusRule.enabled) }}
{{- fail "metrics.serviceMonitor and metrics.prometheusRule need mode=deployment: in cronjob mode the pass runs in a short-lived Job that exports no metrics" }}
{{- end }}
{{- if and .Values.podDisruptionBudget.enabled (lt (int .Values.replicaCount) 2) }}
{{- fail "podDisruptionBudget.enabled needs replicaCount >= 2: with one replica it would block every node drain" }}
{{- end }}
{{- end }}
