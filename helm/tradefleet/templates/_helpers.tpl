{{/* Names, labels and the pieces every workload shares. */}}

{{- define "tradefleet.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "tradefleet.fullname" -}}
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

{{/* The region, required: every object of the release belongs to it. */}}
{{- define "tradefleet.region" -}}
{{- required "region is required: install the chart once per region with --set region=<topology.kubernetes.io/region of its nodes>, e.g. ap-northeast-1" .Values.region }}
{{- end }}

{{/* The webhook configuration the operator registers its admission webhook in: named as
tradefleet_operator.admission.configuration_name names it. */}}
{{- define "tradefleet.webhookConfigurationName" -}}
{{- printf "%s.admission.tradefleet.io" (include "tradefleet.region" . | lower) }}
{{- end }}

{{/* Labels of every object but the selector ones (each component adds its own). */}}
{{- define "tradefleet.baseLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: tradefleet
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
tradefleet.io/region: {{ include "tradefleet.region" . }}
{{- end }}

{{- define "tradefleet.labels" -}}
{{ include "tradefleet.baseLabels" . }}
app.kubernetes.io/name: {{ include "tradefleet.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The operator's pods carry the name the bots' NetworkPolicies admit (render.py). */}}
{{- define "tradefleet.operator.selectorLabels" -}}
app.kubernetes.io/name: tradefleet-operator
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "tradefleet.operator.labels" -}}
{{ include "tradefleet.baseLabels" . }}
{{ include "tradefleet.operator.selectorLabels" . }}
app.kubernetes.io/component: operator
{{- end }}

{{- define "tradefleet.redis.selectorLabels" -}}
app.kubernetes.io/name: tradefleet-redis
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "tradefleet.redis.labels" -}}
{{ include "tradefleet.baseLabels" . }}
{{ include "tradefleet.redis.selectorLabels" . }}
app.kubernetes.io/component: redis
{{- end }}

{{- define "tradefleet.operator.name" -}}
{{ include "tradefleet.fullname" . }}-operator
{{- end }}

{{- define "tradefleet.redis.name" -}}
{{ include "tradefleet.fullname" . }}-redis
{{- end }}

{{- define "tradefleet.peeringName" -}}
{{- .Values.operator.peeringName | default (printf "tradefleet-%s" (include "tradefleet.region" .)) }}
{{- end }}

{{- define "tradefleet.redisUrl" -}}
{{- if .Values.redis.external.url }}
{{- .Values.redis.external.url }}
{{- else }}
{{- printf "redis://%s.%s.svc:6379/0" (include "tradefleet.redis.name" .) .Release.Namespace }}
{{- end }}
{{- end }}

{{- define "tradefleet.image" -}}
{{- printf "%s:%s" .image.repository (.image.tag | default .appVersion) }}
{{- end }}

{{/* Restricted pod security (Pod Security Standards "restricted"), for every pod. */}}
{{- define "tradefleet.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .uid }}
runAsGroup: {{ .uid }}
fsGroup: {{ .uid }}
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "tradefleet.containerSecurityContext" -}}
runAsNonRoot: true
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop:
    - ALL
{{- end }}

{{/* Node affinity to the region's nodes, per `regionAffinity`; `affinity` replaces it. */}}
{{- define "tradefleet.affinity" -}}
{{- $root := .root }}
{{- if .affinity }}
{{- toYaml .affinity }}
{{- else if eq $root.Values.regionAffinity "required" }}
nodeAffinity:
  requiredDuringSchedulingIgnoredDuringExecution:
    nodeSelectorTerms:
      - matchExpressions:
          - key: topology.kubernetes.io/region
            operator: In
            values:
              - {{ include "tradefleet.region" $root }}
{{- else if eq $root.Values.regionAffinity "preferred" }}
nodeAffinity:
  preferredDuringSchedulingIgnoredDuringExecution:
    - weight: 100
      preference:
        matchExpressions:
          - key: topology.kubernetes.io/region
            operator: In
            values:
              - {{ include "tradefleet.region" $root }}
{{- end }}
{{- end }}

{{/* What the operator may do with what it watches and creates; shared by the ClusterRole and the per-namespace Roles. */}}
{{- define "tradefleet.operator.rules" -}}
# The custom resources: watched by Kopf, finalizers and progress annotations patched, status written.
- apiGroups: [tradefleet.io]
  resources: [tradingbots, signalsources, exchangeaccounts]
  verbs: [get, list, watch, patch]
- apiGroups: [tradefleet.io]
  resources: [tradingbots/status, signalsources/status, exchangeaccounts/status]
  verbs: [patch]
# Children carry blockOwnerDeletion, which OwnerReferencesPermissionEnforcement checks against this.
- apiGroups: [tradefleet.io]
  resources: [tradingbots/finalizers, signalsources/finalizers, exchangeaccounts/finalizers]
  verbs: [update]
# Each bot's and source's children: server-side applied, replaced when a merge is invalid, pruned.
- apiGroups: [apps]
  resources: [deployments, controllerrevisions]
  verbs: [get, list, watch, create, patch, update, delete]
- apiGroups: [""]
  resources: [configmaps, services, serviceaccounts]
  verbs: [get, list, watch, create, patch, update, delete]
- apiGroups: [networking.k8s.io]
  resources: [networkpolicies]
  verbs: [get, list, watch, create, patch, update, delete]
# Optimization runs, and the identity they run as (a Role that may only create ConfigMaps, which
# the operator may grant because it holds that permission itself).
- apiGroups: [batch]
  resources: [jobs]
  verbs: [get, list, watch, create, patch, update, delete]
- apiGroups: [rbac.authorization.k8s.io]
  resources: [roles, rolebindings]
  verbs: [get, list, watch, create, patch, update, delete]
# Bot pods are watched for health; the Deployment replaces them. A pod left on a lost node is
# force-deleted (after operator.nodeLostTimeoutSeconds) so that the bot's replacement may start.
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list, watch, delete]
# Exchange credentials are checked, the per-bot control token is created once and read.
- apiGroups: [""]
  resources: [secrets]
  verbs: [get, create]
- apiGroups: [""]
  resources: [events]
  verbs: [create]
{{- end }}

{{/* The namespaces the operator watches and holds Roles in, as JSON: watchNamespaces; else the
release's own namespace; an empty list (the whole cluster, a ClusterRole) only with
rbac.clusterWide. */}}
{{- define "tradefleet.watchedNamespaces" -}}
{{- if and .Values.rbac.clusterWide .Values.watchNamespaces }}
{{- fail "rbac.clusterWide and watchNamespaces exclude each other: list the namespaces to watch, or set rbac.clusterWide: true with watchNamespaces empty" }}
{{- end }}
{{- if .Values.watchNamespaces }}
{{- toJson .Values.watchNamespaces }}
{{- else if .Values.rbac.clusterWide }}
{{- toJson (list) }}
{{- else }}
{{- toJson (list .Release.Namespace) }}
{{- end }}
{{- end }}

{{/*
Redis authentication: the Secret holding the password of Redis's default user (key `password`),
which only the operator is given; it writes one ACL user per bot and source.
*/}}
{{- define "tradefleet.redis.authSecret" -}}
{{- .Values.redis.auth.existingSecret | default (printf "%s-auth" (include "tradefleet.redis.name" .)) }}
{{- end }}

{{- define "tradefleet.redis.authEnv" -}}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ include "tradefleet.redis.authSecret" .root }}
      key: password
{{- end }}

{{/* Who may reach Redis: pods of the watched namespaces (any namespace when cluster-wide). */}}
{{- define "tradefleet.redis.clientNamespaces" -}}
{{- $namespaces := include "tradefleet.watchedNamespaces" . | fromJsonArray }}
{{- if $namespaces }}
namespaceSelector:
  matchExpressions:
    - key: kubernetes.io/metadata.name
      operator: In
      values:
        {{- toYaml $namespaces | nindent 8 }}
{{- else }}
namespaceSelector: {}
{{- end }}
{{- end }}
