{{/*
Names, labels and images. Every hami command line of the chart is defined in this file
(hami.scheduler.args, hami.devicePlugin.args, hami.monitor.args, hami.certs.args), so the test
that parses them with the commands' own parsers (tests/chart/test_flags.py) covers them all.
*/}}

{{- define "hami.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "hami.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "hami.namespace" -}}
{{- default .Release.Namespace .Values.namespaceOverride -}}
{{- end -}}

{{- define "hami.scheduler" -}}{{ include "hami.fullname" . | trunc 53 }}-scheduler{{- end -}}
{{- define "hami.devicePlugin" -}}{{ include "hami.fullname" . | trunc 49 }}-device-plugin{{- end -}}
{{- define "hami.certs" -}}{{ include "hami.fullname" . | trunc 57 }}-certs{{- end -}}
{{- define "hami.webhook" -}}{{ include "hami.fullname" . | trunc 55 }}-webhook{{- end -}}
{{- define "hami.tlsSecret" -}}{{ include "hami.scheduler" . }}-tls{{- end -}}
{{- define "hami.deviceConfigMap" -}}{{ include "hami.scheduler" . }}-device{{- end -}}

{{- define "hami.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "hami.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.global.labels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Selector labels of one component: (dict "ctx" $ "component" "scheduler"). */}}
{{- define "hami.selectorLabels" -}}
app.kubernetes.io/name: {{ include "hami.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "hami.annotations" -}}
{{- with .Values.global.annotations }}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* An image reference: (dict "ctx" $ "image" .Values.x.image "fallback" .Values.y.image). */}}
{{- define "hami.image" -}}
{{- $fb := .fallback | default dict -}}
{{- $registry := .image.registry | default $fb.registry | default .ctx.Values.global.imageRegistry -}}
{{- $repo := .image.repository | default $fb.repository -}}
{{- $tag := .image.tag | default $fb.tag | default .ctx.Values.global.imageTag | default .ctx.Chart.AppVersion -}}
{{- if $registry -}}{{ $registry }}/{{- end -}}{{ $repo }}:{{ $tag }}
{{- end -}}

{{/* kube-scheduler's tag: image.tag, else the legacy imageTag, else the cluster's version. */}}
{{- define "hami.kubeSchedulerImage" -}}
{{- $ks := .Values.scheduler.kubeScheduler -}}
{{- $tag := $ks.image.tag | default $ks.imageTag | default (regexFind "^v[0-9]+\\.[0-9]+\\.[0-9]+" .Capabilities.KubeVersion.Version) -}}
{{- if $ks.image.registry -}}{{ $ks.image.registry }}/{{- end -}}{{ $ks.image.repository }}:{{ $tag }}
{{- end -}}

{{/*
The resources hami manages, as a JSON list of [name, ignoredByScheduler] pairs, in the order of
the registered vendors' common words (sorted, as `hami scheduler-config` lists the registry):
Ascend models (devices.ascend.enabled), Iluvatar chips (devices.iluvatar.enabled), Hygon DCU,
Cambricon MLU, NVIDIA; each vendor's names from device-config.content when it has the section,
else the built-in defaults (NVIDIA's from the resource* values). kube-scheduler ignores them all
except Cambricon's memory and core, which are real node resources (its cards come from node
capacity). Then scheduler.extender.extraManagedResources; the first of a name wins.
*/}}
{{- define "hami.resourceNames" -}}
{{- $content := index .Values "device-config" "content" -}}
{{- $cfg := dict -}}
{{- if $content -}}{{- $cfg = fromYaml $content -}}{{- end -}}
{{- $byCw := dict -}}
{{- $nvNames := list .Values.resourceName .Values.resourceMem .Values.resourceMemPercentage .Values.resourceCores .Values.resourcePriority -}}
{{- if $content -}}
{{- $nv := $cfg.nvidia | default dict -}}
{{- $nvNames = list
  ($nv.resourceCountName | default $nv.resource_count_name | default "nvidia.com/gpu")
  ($nv.resourceMemoryName | default $nv.resource_memory_name | default "nvidia.com/gpumem")
  ($nv.resourceMemoryPercentageName | default $nv.resource_memory_percentage_name | default "nvidia.com/gpumem-percentage")
  ($nv.resourceCoreName | default $nv.resource_core_name | default "nvidia.com/gpucores")
  ($nv.resourcePriorityName | default $nv.resource_priority_name | default "nvidia.com/priority") -}}
{{- end -}}
{{- $nvPairs := list -}}
{{- range $nvNames }}{{ $nvPairs = append $nvPairs (list . true) }}{{ end -}}
{{- $_ := set $byCw "NVIDIA" $nvPairs -}}
{{- $mlu := $cfg.cambricon | default dict -}}
{{- $_ := set $byCw "MLU" (list
  (list ($mlu.resourceCountName | default $mlu.resource_count_name | default "cambricon.com/vmlu") true)
  (list ($mlu.resourceMemoryName | default $mlu.resource_memory_name | default "cambricon.com/mlu.smlu.vmemory") false)
  (list ($mlu.resourceCoreName | default $mlu.resource_core_name | default "cambricon.com/mlu.smlu.vcore") false)) -}}
{{- $dcu := $cfg.hygon | default dict -}}
{{- $_ := set $byCw "DCU" (list
  (list ($dcu.resourceCountName | default $dcu.resource_count_name | default "hygon.com/dcunum") true)
  (list ($dcu.resourceMemoryName | default $dcu.resource_memory_name | default "hygon.com/dcumem") true)
  (list ($dcu.resourceCoreName | default $dcu.resource_core_name | default "hygon.com/dcucores") true)) -}}
{{- if .Values.devices.ascend.enabled -}}
{{- $models := list -}}
{{- range list "Ascend910A" "Ascend910B2" "Ascend910B3" "Ascend910B4-1" "Ascend910B4" "Ascend310P" "Ascend910C" -}}
{{- $models = append $models (dict "commonWord" . "resourceName" (printf "huawei.com/%s" .) "resourceMemoryName" (printf "huawei.com/%s-memory" .) "resourceCoreName" (printf "huawei.com/%s-core" .)) -}}
{{- end -}}
{{- with $cfg.vnpus -}}
{{- if kindIs "slice" . -}}{{- $models = . -}}{{- else if .configs -}}{{- $models = .configs -}}{{- end -}}
{{- end -}}
{{- range $models -}}
{{- $pairs := list -}}
{{- range list (.resourceName | default .resource_name) (.resourceMemoryName | default .resource_memory_name) (.resourceCoreName | default .resource_core_name) -}}
{{- if . }}{{ $pairs = append $pairs (list . true) }}{{ end -}}
{{- end -}}
{{- $_ := set $byCw (.commonWord | default .common_word) $pairs -}}
{{- end -}}
{{- end -}}
{{- if .Values.devices.iluvatar.enabled -}}
{{- $chips := list -}}
{{- range list "MR-V100" "MR-V50" "BI-V150" "BI-V100" -}}
{{- $chips = append $chips (dict "commonWord" . "resourceCountName" (printf "iluvatar.ai/%s-vgpu" .) "resourceMemoryName" (printf "iluvatar.ai/%s.vMem" .) "resourceCoreName" (printf "iluvatar.ai/%s.vCore" .)) -}}
{{- end -}}
{{- with $cfg.iluvatars }}{{ $chips = . }}{{ end -}}
{{- range $chips -}}
{{- $_ := set $byCw (.commonWord | default .common_word) (list
  (list (.resourceCountName | default .resource_count_name) true)
  (list (.resourceMemoryName | default .resource_memory_name) true)
  (list (.resourceCoreName | default .resource_core_name) true)) -}}
{{- end -}}
{{- end -}}
{{- $out := list -}}
{{- $seen := dict -}}
{{- range $cw := keys $byCw | sortAlpha -}}
{{- range index $byCw $cw -}}
{{- if not (hasKey $seen (index . 0)) -}}
{{- $_ := set $seen (index . 0) true -}}
{{- $out = append $out . -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- range $.Values.scheduler.extender.extraManagedResources -}}
{{- if not (hasKey $seen .) -}}
{{- $_ := set $seen . true -}}
{{- $out = append $out (list . true) -}}
{{- end -}}
{{- end -}}
{{- $out | toJson -}}
{{- end -}}

{{- define "hami.extenderURL" -}}
{{- if .Values.scheduler.admissionWebhook.enabled -}}
https://127.0.0.1:{{ .Values.scheduler.extender.httpsPort }}
{{- else -}}
http://127.0.0.1:{{ .Values.scheduler.extender.httpPort }}
{{- end -}}
{{- end -}}

{{/*
The KubeSchedulerConfiguration. `hami scheduler-config` prints the same text for the same
inputs (tests/chart/test_scheduler_config.py).
*/}}
{{- define "hami.schedulerConfig" -}}
{{- $managed := list -}}
{{- range (include "hami.resourceNames" . | fromJsonArray) -}}
{{- $managed = append $managed (dict "name" (index . 0) "ignoredByScheduler" (index . 1)) -}}
{{- end -}}
{{- $https := .Values.scheduler.admissionWebhook.enabled -}}
{{- $ext := dict "urlPrefix" (include "hami.extenderURL" .) "filterVerb" "filter" "bindVerb" "bind" "enableHTTPS" $https "nodeCacheCapable" true "weight" 1 "httpTimeout" .Values.scheduler.extender.httpTimeout "managedResources" $managed -}}
{{- if $https -}}
{{- if .Values.scheduler.extender.verifyTLS -}}
{{- $_ := set $ext "tlsConfig" (dict "caFile" "/tls/ca.crt") -}}
{{- else -}}
{{- $_ := set $ext "tlsConfig" (dict "insecure" true) -}}
{{- end -}}
{{- end -}}
{{- $le := dict "leaderElect" .Values.scheduler.leaderElect "resourceName" .Values.schedulerName "resourceNamespace" (include "hami.namespace" .) -}}
{{- $cfg := dict "apiVersion" "kubescheduler.config.k8s.io/v1" "kind" "KubeSchedulerConfiguration" "leaderElection" $le "profiles" (list (dict "schedulerName" .Values.schedulerName)) "extenders" (list $ext) -}}
{{- toYaml $cfg -}}
{{- end -}}

{{/* label selector string k=v,... */}}
{{- define "hami.nodeLabelSelector" -}}
{{- $parts := list -}}
{{- range $k, $v := .Values.scheduler.nodeLabelSelector -}}
{{- $parts = append $parts (printf "%s=%s" $k $v) -}}
{{- end -}}
{{- join "," $parts -}}
{{- end -}}

{{/* `hami scheduler` arguments (after the image's entrypoint `hami`). */}}
{{- define "hami.scheduler.args" -}}
{{- $s := .Values.scheduler -}}
- scheduler
{{- if $s.admissionWebhook.enabled }}
- --http-bind=0.0.0.0:{{ $s.extender.httpsPort }}
- --cert-file=/tls/tls.crt
- --key-file=/tls/tls.key
{{- else }}
- --http-bind=0.0.0.0:{{ $s.extender.httpPort }}
{{- end }}
- --metrics-bind-address={{ $s.metricsBindAddress }}
- --scheduler-name={{ .Values.schedulerName }}
- --node-scheduler-policy={{ $s.defaultSchedulerPolicy.nodeSchedulerPolicy }}
- --gpu-scheduler-policy={{ $s.defaultSchedulerPolicy.gpuSchedulerPolicy }}
- --force-overwrite-default-scheduler={{ $s.forceOverwriteDefaultScheduler }}
- --leader-elect={{ $s.leaderElect }}
- --leader-elect-resource-name={{ .Values.schedulerName }}-extender
- --device-config-file=/device-config.yaml
{{- with (include "hami.nodeLabelSelector" .) }}
- --node-label-selector={{ . }}
{{- end }}
{{- if .Values.legacyMetrics }}
- --legacy-metrics=true
{{- end }}
{{- if .Values.devices.ascend.enabled }}
- --enable-ascend=true
{{- end }}
{{- if .Values.devices.iluvatar.enabled }}
- --enable-iluvatar=true
{{- end }}
{{- range $s.extender.extraArgs }}
- {{ . | quote }}
{{- end }}
{{- end -}}

{{/* `hami device-plugin` arguments. NODE_NAME and HOOK_PATH come from the environment. */}}
{{- define "hami.devicePlugin.args" -}}
- device-plugin
- --config-file=/device-config.yaml
- --node-config=/config/config.json
- --plugin-dir={{ .Values.devicePlugin.pluginPath }}
- --install-lib=/opt/hami/libvgpu.so
{{- range .Values.devicePlugin.extraArgs }}
- {{ . | quote }}
{{- end }}
{{- end -}}

{{/* `hami monitor` arguments. NODE_NAME and HOOK_PATH come from the environment. */}}
{{- define "hami.monitor.args" -}}
- monitor
- --metrics-bind-address={{ .Values.devicePlugin.monitor.metricsBindAddress }}
{{- if .Values.legacyMetrics }}
- --legacy-metrics=true
{{- end }}
{{- range .Values.devicePlugin.monitor.extraArgs }}
- {{ . | quote }}
{{- end }}
{{- end -}}

{{/* `hami certs` arguments (the pre/post-install hook Job). */}}
{{- define "hami.certs.args" -}}
{{- $svc := include "hami.scheduler" . -}}
{{- $ns := include "hami.namespace" . -}}
- certs
- --namespace={{ $ns }}
- --secret-name={{ include "hami.tlsSecret" . }}
- --webhook-name={{ include "hami.webhook" . }}
- --host={{ $svc }}
- --host={{ $svc }}.{{ $ns }}
- --host={{ $svc }}.{{ $ns }}.svc
- --host={{ $svc }}.{{ $ns }}.svc.cluster.local
- --host=127.0.0.1
{{- if .Values.scheduler.admissionWebhook.customURL.enabled }}
- --host={{ .Values.scheduler.admissionWebhook.customURL.host }}
{{- end }}
- --validity={{ .Values.scheduler.patch.validity }}
- --renew-before={{ .Values.scheduler.patch.renewBefore }}
{{- end -}}

{{- define "hami.securityContext.nonRoot" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}
