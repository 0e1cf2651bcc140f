{{/*
Names: every object of the release is named after it, as the original chart's were, so that an
upgrade in place adopts them.
*/}}
{{- define "awms.name" -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "awms.labels" -}}
app.kubernetes.io/name: awms-guacamole-operator
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* The original chart's selector: a Deployment's selector cannot change, so it stays as it was. */}}
{{- define "awms.selectorLabels" -}}
app: {{ include "awms.name" . }}
{{- end -}}

{{- define "awms.image" -}}
{{- if kindIs "string" .Values.image -}}
{{- .Values.image -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}
{{- end -}}

{{- define "awms.imagePullPolicy" -}}
{{- if kindIs "map" .Values.image -}}{{ .Values.image.pullPolicy | default "IfNotPresent" }}{{- else -}}IfNotPresent{{- end -}}
{{- end -}}

{{/* The `env` entry named (index . 1) as JSON, "{}" when there is none (the last one when named twice). */}}
{{- define "awms.userEnv" -}}
{{- $root := index . 0 -}}
{{- $found := dict -}}
{{- range $root.Values.env -}}
{{- if eq .name (index $ 1) }}{{ $found = . }}{{ end -}}
{{- end -}}
{{- toJson $found -}}
{{- end -}}

{{/* The namespace of the browser objects: an `env` entry NAMESPACE wins over browser.namespace. */}}
{{- define "awms.browserNamespace" -}}
{{- $e := include "awms.userEnv" (list . "NAMESPACE") | fromJson -}}
{{- if hasKey $e "valueFrom" -}}
{{- if eq (dig "fieldRef" "fieldPath" "" $e.valueFrom) "metadata.namespace" -}}
{{- .Release.Namespace -}}
{{- else -}}
{{- fail "env NAMESPACE must be a value (or the pod's own namespace through fieldRef metadata.namespace): the chart grants the operator its Role in that namespace; or set browser.namespace instead" -}}
{{- end -}}
{{- else if hasKey $e "value" -}}
{{- /* As the operator reads it: empty means its default. */ -}}
{{- (toString $e.value) | trim | default "guacamole" -}}
{{- else -}}
{{- .Values.browser.namespace | default .Release.Namespace -}}
{{- end -}}
{{- end -}}

{{/* "true" when browser.namespace is the one in use (no `env` entry NAMESPACE). */}}
{{- define "awms.browserNamespaceFromValues" -}}
{{- $e := include "awms.userEnv" (list . "NAMESPACE") | fromJson -}}
{{- if not (or (hasKey $e "value") (hasKey $e "valueFrom")) }}true{{ end -}}
{{- end -}}

{{/* The URL the browsers open: an `env` entry BROWSER_URL wins over browser.url ("" when it comes from valueFrom). */}}
{{- define "awms.browserUrl" -}}
{{- $e := include "awms.userEnv" (list . "BROWSER_URL") | fromJson -}}
{{- if hasKey $e "valueFrom" -}}
{{- else if hasKey $e "value" -}}{{ toString $e.value | trim }}
{{- else -}}{{ .Values.browser.url | trim }}
{{- end -}}
{{- end -}}

{{/* "true" or "false": leader election as the operator will run it. */}}
{{- define "awms.leaderElection" -}}
{{- $e := include "awms.userEnv" (list . "LEADER_ELECTION") | fromJson -}}
{{- $v := "" -}}
{{- if hasKey $e "value" -}}
{{- $v = toString $e.value | trim | lower -}}
{{- $v = ternary "true" "false" (has $v (list "true" "yes" "on" "1")) -}}
{{- else if eq (toString .Values.leaderElection) "auto" -}}
{{- $v = ternary "true" "false" (gt (int .Values.replicas) 1) -}}
{{- else -}}
{{- $v = toString .Values.leaderElection -}}
{{- end -}}
{{- if and (gt (int .Values.replicas) 1) (ne $v "true") -}}
{{- fail (printf "replicas is %d but leader election is off: several operators would reconcile the same bindings at once; set leaderElection to auto or true" (int .Values.replicas)) -}}
{{- end -}}
{{- $v -}}
{{- end -}}

{{/*
The operator's environment: the structured values' variables, each left out when an `env` entry
names the same variable or when its value is empty, then the `env` entries as given.
*/}}
{{- define "awms.env" -}}
{{- $user := dict -}}
{{- range .Values.env }}{{ $_ := set $user .name true }}{{ end -}}
{{- $b := .Values.browser -}}
{{- $d := .Values.database -}}
{{- $structured := list
  (dict "name" "NAMESPACE" "value" (include "awms.browserNamespace" .))
  (dict "name" "IMAGE_NAME" "value" $b.image)
  (dict "name" "BROWSER_URL" "value" $b.url)
  (dict "name" "DB_HOST" "value" $d.host)
  (dict "name" "DB_PORT" "value" (toString $d.port))
  (dict "name" "DB_NAME" "value" $d.name)
  (dict "name" "DB_USER" "value" $d.user)
  (dict "name" "DB_SSLMODE" "value" $d.sslmode)
  (dict "name" "LEADER_ELECTION" "value" (include "awms.leaderElection" .))
  (dict "name" "POD_NAME" "valueFrom" (dict "fieldRef" (dict "fieldPath" "metadata.name")))
-}}
{{- if $d.existingSecret.name -}}
{{- $structured = append $structured (dict "name" "DB_PASS" "valueFrom" (dict "secretKeyRef" (dict "name" $d.existingSecret.name "key" $d.existingSecret.key))) -}}
{{- end -}}
{{- range $name, $v := dict "BROWSER_RESOURCES" $b.resources "BROWSER_NODE_SELECTOR" $b.nodeSelector "BROWSER_TOLERATIONS" $b.tolerations -}}
{{- if $v }}{{ $structured = append $structured (dict "name" $name "value" (toJson $v)) }}{{ end -}}
{{- end -}}
{{- $sc := $b.securityContext | default dict -}}
{{- $idle := $b.idle | default dict -}}
{{- $plain := dict
  "BROWSER_RUN_AS_USER" $sc.runAsUser "BROWSER_RUN_AS_GROUP" $sc.runAsGroup "BROWSER_FS_GROUP" $sc.fsGroup
  "BROWSER_IDLE_TIMEOUT" $idle.timeout "BROWSER_IDLE_CHECK_INTERVAL" $idle.checkInterval
  "BROWSER_IDLE_GRACE_PERIOD" $idle.gracePeriod "BROWSER_MAX_AGE" $idle.maxAge -}}
{{- range $name, $v := $plain -}}
{{- if not (kindIs "invalid" $v) }}{{ $structured = append $structured (dict "name" $name "value" (toString $v)) }}{{ end -}}
{{- end -}}
{{- if $sc.runAsNonRoot }}{{ $structured = append $structured (dict "name" "BROWSER_RUN_AS_NON_ROOT" "value" "true") }}{{ end -}}
{{- if $sc.readOnlyRootFilesystem }}{{ $structured = append $structured (dict "name" "BROWSER_READ_ONLY_ROOT_FILESYSTEM" "value" "true") }}{{ end -}}
{{- if $b.writablePaths }}{{ $structured = append $structured (dict "name" "BROWSER_WRITABLE_PATHS" "value" (join "," $b.writablePaths)) }}{{ end -}}
{{- $out := list -}}
{{- range $structured -}}
{{- if and (not (hasKey $user .name)) (or (hasKey . "valueFrom") (ne (toString .value) "")) -}}
{{- $out = append $out . -}}
{{- end -}}
{{- end -}}
{{- toYaml (concat $out .Values.env) -}}
{{- end -}}

{{/* Fails with one message naming what a working install still needs. */}}
{{- define "awms.validate" -}}
{{- $missing := list -}}
{{- $names := list -}}
{{- range .Values.env }}{{ $names = append $names .name }}{{ end -}}
{{- $url := include "awms.browserUrl" . -}}
{{- if and (eq $url "") (not (has "BROWSER_URL" $names)) -}}
{{- $missing = append $missing "browser.url (the http(s) URL of your JupyterHub, or an env entry BROWSER_URL)" -}}
{{- end -}}
{{- if and (eq (toString .Values.browser.image) "") (not (has "IMAGE_NAME" $names)) -}}
{{- $missing = append $missing "browser.image (or an env entry IMAGE_NAME)" -}}
{{- end -}}
{{- if and (eq (toString .Values.database.user) "") (not (has "DB_USER" $names)) -}}
{{- $missing = append $missing "database.user (or an env entry DB_USER)" -}}
{{- end -}}
{{- if and (eq (toString .Values.database.existingSecret.name) "") (not (has "DB_PASS" $names)) -}}
{{- $missing = append $missing "database.existingSecret.name (or an env entry DB_PASS with valueFrom)" -}}
{{- end -}}
{{- if $missing -}}
{{- fail (printf "these values are required: %s" (join "; " $missing)) -}}
{{- end -}}
{{- end -}}

{{/*
"true" when an object (list root apiVersion kind namespace name policy) should be rendered under
its policy: true, false, or auto = unless it exists and this release does not own it. `lookup`
sees nothing under `helm template`, so there auto renders it.
*/}}
{{- define "awms.renderUnlessForeign" -}}
{{- $root := index . 0 -}}
{{- $policy := toString (index . 5) -}}
{{- if eq $policy "true" -}}true
{{- else if eq $policy "auto" -}}
{{- $existing := lookup (index . 1) (index . 2) (index . 3) (index . 4) -}}
{{- if not $existing -}}true
{{- else -}}
{{- $a := $existing.metadata.annotations | default dict -}}
{{- if and (eq (get $a "meta.helm.sh/release-name") $root.Release.Name) (eq (get $a "meta.helm.sh/release-namespace") $root.Release.Namespace) -}}true{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
