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
{{ include "certkeeper.podLabels" . }}
{{- end }}

{{/*
Labels of pod templates: no helm.sh/chart, so a chart-only change (a new chart version with the
same image) does not change the template and restart every pod.
*/}}
{{- define "certkeeper.podLabels" -}}
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

{{/*
No certkeeper image is published: an install without image.repository would only give pods in
ImagePullBackOff, so the chart says what to do instead.
*/}}
{{- define "certkeeper.image" -}}
{{- if not .Values.image.repository }}
{{- fail "image.repository is not set. No certkeeper image is published yet: build one from the repository's Dockerfile and push it where the cluster can pull it (docker build -t REGISTRY/certkeeper:TAG . && docker push REGISTRY/certkeeper:TAG), then install with --set image.repository=REGISTRY/certkeeper --set image.tag=TAG" }}
{{- end }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* The namespaces certkeeper manages in rbac.scope=namespaces (empty in cluster scope). */}}
{{- define "certkeeper.managedNamespaces" -}}
{{- if eq .Values.rbac.scope "namespaces" }}{{ join "," .Values.rbac.namespaces }}{{ end }}
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
{{- with .Values.acme.profile }}
- name: CERTKEEPER_PROFILE
  value: {{ . | quote }}
{{- end }}
- name: CERTKEEPER_RATE_LIMITS
  value: {{ .Values.acme.rateLimits | default "auto" | quote }}
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
{{- if and (eq .Values.rbac.scope "namespaces") (eq (len .Values.rbac.namespaces) 1) }}
# The roles reach this namespace only: list there, not cluster-wide.
- name: CERTKEEPER_NAMESPACE
  value: {{ first .Values.rbac.namespaces | quote }}
{{- end }}
- name: CERTKEEPER_ALL_INGRESSES
  value: {{ .Values.allIngresses | quote }}
- name: CERTKEEPER_GATEWAY_API
  value: {{ .Values.gatewayAPI.enabled | quote }}
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

{{/* Settings of the cron service only: schedule, leadership, admin port. */}}
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
{{- end }}

{{/*
Alert channels: `run` sends alerts; the CronJob's `renew` gets the same settings so that a renew
that alerts needs nothing more from the chart. Secrets stay in secretKeyRef.
*/}}
{{- define "certkeeper.env.alerts" -}}
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
{{- if and (eq .Values.mode "cronjob") .Values.metrics.grafanaDashboard.enabled }}
{{- fail "metrics.grafanaDashboard needs mode=deployment: in cronjob mode the pass runs in a short-lived Job that exports no metrics, so the dashboard would stay empty" }}
{{- end }}
{{- if and .Values.podDisruptionBudget.enabled (lt (int .Values.replicaCount) 2) }}
{{- fail "podDisruptionBudget.enabled needs replicaCount >= 2: with one replica it would block every node drain" }}
{{- end }}
{{- if and (eq .Values.rbac.scope "namespaces") (empty .Values.rbac.namespaces) }}
{{- fail "rbac.scope=namespaces needs rbac.namespaces: the namespaces whose Ingresses certkeeper manages, e.g. --set rbac.namespaces={shop}" }}
{{- end }}
{{- if and (eq .Values.rbac.scope "cluster") (not (empty .Values.rbac.namespaces)) }}
{{- fail (printf "rbac.namespaces lists %s but rbac.scope is cluster, which grants every namespace: set rbac.scope=namespaces to restrict certkeeper to them, or empty rbac.namespaces" (join ", " .Values.rbac.namespaces)) }}
{{- end }}
{{- if and .Values.networkPolicy.enabled (empty .Values.networkPolicy.apiServer.cidrs) }}
{{- fail "networkPolicy.enabled needs networkPolicy.apiServer.cidrs: the addresses of the Kubernetes API server, without which certkeeper can do nothing. List them with: kubectl get endpointslices -n default -l kubernetes.io/service-name=kubernetes (then e.g. --set networkPolicy.apiServer.cidrs={10.0.0.10/32})" }}
{{- end }}
{{- end }}

{{/*
What certkeeper does with the Ingresses it manages and their Secrets: the ClusterRole's rules in
scope cluster, each listed namespace's Role in scope namespaces. No Ingress is ever read by GET
or watched (paginated lists once per pass), and no Secret is deleted.
*/}}
{{- define "certkeeper.rules.managed" -}}
- apiGroups: [networking.k8s.io]
  resources: [ingresses]
  verbs: [list]
- apiGroups: [""]
  resources: [secrets]
  verbs: [get, list, create, update, patch]
- apiGroups: [""]
  resources: [events]
  verbs: [create]
{{- if .Values.gatewayAPI.enabled }}
- apiGroups: [gateway.networking.k8s.io]
  resources: [gateways, listenersets]
  verbs: [list]
- apiGroups: [gateway.networking.k8s.io]
  resources: [httproutes]
  verbs: [list, create, delete]
- apiGroups: [gateway.networking.k8s.io]
  resources: [referencegrants]
  verbs: [list]
{{- end }}
{{- end }}

{{- define "certkeeper.rbacSubjects" -}}
- kind: ServiceAccount
  name: {{ include "certkeeper.serviceAccountName" . }}
  namespace: {{ .Release.Namespace }}
{{- end }}

{{/* NetworkPolicy peers from {namespaceSelector, podSelector} values (one peer: both must match). */}}
{{- define "certkeeper.netpol.peers" -}}
{{- toYaml (list (dict "namespaceSelector" (default dict .namespaceSelector) "podSelector" (default dict .podSelector))) }}
{{- end }}

{{/* Egress every certkeeper pod needs: the Kubernetes API and the cluster DNS. */}}
{{- define "certkeeper.netpol.egressApi" -}}
{{- $np := .Values.networkPolicy -}}
# The Kubernetes API server (lists, Secrets, the challenge ConfigMap, Leases, Events).
- to:
    {{- range $np.apiServer.cidrs }}
    - ipBlock:
        cidr: {{ . }}
    {{- end }}
  ports:
    {{- range $np.apiServer.ports }}
    - port: {{ . }}
      protocol: TCP
    {{- end }}
# Cluster DNS.
- to:
    {{- include "certkeeper.netpol.peers" $np.dns | nindent 4 }}
  ports:
    - port: 53
      protocol: UDP
    - port: 53
      protocol: TCP
{{- end }}

{{/*
Egress of a pass: the self-check through the ingress controller, and outside the cluster the
ACME CA, the self-check's public addresses and the alert channels.
*/}}
{{- define "certkeeper.netpol.egressPass" -}}
{{- $np := .Values.networkPolicy -}}
{{- $caPort := "443" -}}
{{- if hasPrefix "https://" .Values.acme.server -}}
{{- $caPort = regexFind ":[0-9]+$" (urlParse .Values.acme.server).host | trimPrefix ":" | default "443" -}}
{{- end -}}
{{- $ports := list $caPort "443" -}}
{{- $why := list (printf "the ACME CA (%s), an https webhook (443)" $caPort) -}}
{{- $selfCheckPorts := list "80" "443" -}}
{{- with .Values.selfCheckAddress -}}
{{- $selfCheckPorts = append $selfCheckPorts (regexFind "[0-9]+$" .) -}}
{{- end -}}
{{- if ne .Values.selfCheck "off" -}}
{{- $ports = concat $ports $selfCheckPorts -}}
{{- $why = append $why (printf "the self-check's public addresses (%s)" (join ", " (uniq $selfCheckPorts))) -}}
{{- end -}}
{{- if .Values.alerts.email.host -}}
{{- $ports = append $ports (toString .Values.alerts.email.port) -}}
{{- $why = append $why (printf "the SMTP server (%v)" .Values.alerts.email.port) -}}
{{- end -}}
{{- if ne .Values.selfCheck "off" }}
# The self-check fetches http://HOST/.well-known/acme-challenge/… through the ingress controller
# (port 80, 443 after a redirect), also when selfCheckAddress is the controller's ClusterIP.
- to:
    {{- include "certkeeper.netpol.peers" $np.ingressController | nindent 4 }}
  ports:
    {{- range uniq $selfCheckPorts }}
    - port: {{ . | int }}
      protocol: TCP
    {{- end }}
{{- end }}
# Outside the cluster: {{ join "; " $why }}.
- to:
    {{- range $np.externalCidrs }}
    - ipBlock:
        cidr: {{ . }}
    {{- end }}
  ports:
    {{- range uniq $ports }}
    - port: {{ . | int }}
      protocol: TCP
    {{- end }}
{{- with $np.extraEgress }}
{{ toYaml . }}
{{- end }}
{{- end }}
