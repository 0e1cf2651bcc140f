/**
 * `helm upgrade` in place, on the real control plane, of a release of the original chart (same
 * release name; objects shaped as its templates rendered them, per the field values' header) to
 * this chart with the field's values unchanged: the objects are adopted, not duplicated or
 * recreated, and the binding CRD another chart installed is left alone.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test"
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect } from "effect"
import YAML from "yaml"
import { Deployments } from "../../src/runtime/resources.ts"
import { controlPlaneAvailable, controlPlaneSkipReason, startControlPlane, type ControlPlane } from "../support/control-plane.ts"
import { projectCrdPath } from "../support/operator.ts"
import { resourceType } from "../support/servers.ts"
import { waitFor } from "../support/wait.ts"
import { helmOn } from "./cluster.ts"
import { chartDir, fieldValuesMissingReason, fieldValuesPath, helm, helmMissingReason, RELEASE, render, sharedFixture } from "./helm.ts"

setDefaultTimeout(180_000)

const NS = "guacamole"
const skip = !helm ? helmMissingReason : !controlPlaneAvailable() ? controlPlaneSkipReason : !fieldValuesPath ? fieldValuesMissingReason : undefined
if (skip) console.warn(`skipped: ${skip}`)

/** A chart rendering what the original's templates rendered: the release-named objects and firefox-config. */
const originalShapedChart = (): string => {
  const dir = mkdtempSync(join(tmpdir(), "original-chart-"))
  mkdirSync(join(dir, "templates"))
  writeFileSync(join(dir, "Chart.yaml"), YAML.stringify({ apiVersion: "v2", name: "awms-guacamole-operator", version: "0.1.0", appVersion: "0.1.0" }))
  writeFileSync(
    join(dir, "values.yaml"),
    YAML.stringify({ replicas: 1, image: "lscsde/awms-guacamole-operator:0.1.0", nodeSelector: {}, tolerations: [], volumes: [], volumeMounts: [], env: [], resources: {} }),
  )
  writeFileSync(
    join(dir, "templates", "objects.yaml"),
    `apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ .Release.Name }}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: {{ .Release.Name }}
rules:
  - { apiGroups: [""], resources: [services, namespaces], verbs: [get, watch, list] }
  - { apiGroups: [""], resources: [events], verbs: [create] }
  - { apiGroups: [kopf.dev], resources: [clusterkopfpeerings], verbs: [list, watch, patch, get] }
  - { apiGroups: [xlscsde.nhs.uk], resources: [analyticsworkspacebindings], verbs: [get, watch, list, patch] }
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: {{ .Release.Name }}
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: {{ .Release.Name }} }
subjects: [{ kind: ServiceAccount, name: {{ .Release.Name }}, namespace: {{ .Release.Namespace }} }]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: {{ .Release.Name }}
  namespace: {{ .Release.Namespace }}
rules:
  - { apiGroups: [""], resources: [services], verbs: [get, list, patch, create, delete] }
  - { apiGroups: [apps], resources: [deployments], verbs: [get, list, patch, create, delete] }
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: {{ .Release.Name }}
  namespace: {{ .Release.Namespace }}
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: Role, name: {{ .Release.Name }} }
subjects: [{ kind: ServiceAccount, name: {{ .Release.Name }} }]
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
spec:
  replicas: {{ .Values.replicas }}
  selector: { matchLabels: { app: {{ .Release.Name }} } }
  template:
    metadata: { labels: { app: {{ .Release.Name }} } }
    spec:
      serviceAccountName: {{ .Release.Name }}
      containers:
        - name: controller
          image: {{ .Values.image }}
          env: {{ toJson .Values.env }}
---
kind: ConfigMap
apiVersion: v1
metadata:
  name: firefox-config
data:
  distribution.ini: "[Global]\\nid=mozilla-deb\\n"
  policies.json: '{"policies": {"DisableTelemetry": true}}'
`,
  )
  return dir
}

describe.skipIf(skip !== undefined)("helm upgrade from the original chart's release on kube-apiserver", () => {
  let plane: ControlPlane
  const crdDoc = YAML.parse(readFileSync(sharedFixture("crds/analyticsworkspacebindings.xlscsde.nhs.uk.yaml") ?? projectCrdPath, "utf8"))
  const kinds = {
    ServiceAccount: resourceType("", "serviceaccounts"),
    ClusterRole: resourceType("rbac.authorization.k8s.io", "clusterroles", false),
    ClusterRoleBinding: resourceType("rbac.authorization.k8s.io", "clusterrolebindings", false),
    Role: resourceType("rbac.authorization.k8s.io", "roles"),
    RoleBinding: resourceType("rbac.authorization.k8s.io", "rolebindings"),
    Deployment: Deployments,
    ConfigMap: resourceType("", "configmaps"),
  }
  const crds = resourceType("apiextensions.k8s.io", "customresourcedefinitions", false)
  const get = (rt: any, ns: string | undefined, name: string) => Effect.runPromise(plane.admin.get(rt, ns, name)) as Promise<any>
  const current = async () =>
    Object.fromEntries(
      await Promise.all(
        Object.entries(kinds).map(async ([kind, rt]) => {
          const name = kind === "ConfigMap" ? "firefox-config" : RELEASE
          return [kind, await get(rt, rt.namespaced ? NS : undefined, name)] as const
        }),
      ),
    )
  let before: Record<string, any>
  let crdBefore: any

  beforeAll(async () => {
    // The binding CRD as the Analytics Workspace Management chart installs it: not this release's.
    plane = await startControlPlane({ namespaces: [NS, "jupyterhub"], crds: [crdDoc] })
    crdBefore = await get(crds, undefined, crdDoc.metadata.name)
    await helmOn(plane, ["install", RELEASE, originalShapedChart(), "--namespace", NS, "--values", fieldValuesPath!])
    before = await current()
    await helmOn(plane, ["upgrade", RELEASE, chartDir, "--namespace", NS, "--values", fieldValuesPath!])
  })
  afterAll(() => plane?.stop())

  test("adopts every object of the original release: the same objects (uids), now as this chart renders them", async () => {
    const after = await current()
    for (const kind of Object.keys(kinds)) expect(`${kind} ${after[kind].metadata.uid}`).toBe(`${kind} ${before[kind].metadata.uid}`)
    const expected = render([fieldValuesPath!], { namespace: NS })
    expect(after.ClusterRole.rules).toEqual(expected.find("ClusterRole").rules)
    expect(after.Role.rules).toEqual(expected.find("Role").rules)
    expect(JSON.parse(after.ConfigMap.data["policies.json"])).toEqual(JSON.parse(expected.find("ConfigMap").data["policies.json"]))
    const deployment = after.Deployment
    expect(deployment.spec.selector).toEqual({ matchLabels: { app: RELEASE } })
    // The original's default RollingUpdate became Recreate (one operator at a time) without a conflict on rollingUpdate.
    expect(deployment.spec.strategy).toEqual({ type: "Recreate" })
    const container = deployment.spec.template.spec.containers[0]
    expect(container.name).toBe("controller")
    expect(container.env.map((e: any) => e.name)).toEqual(expected.container.env.map((e: any) => e.name))
    const status = JSON.parse(await helmOn(plane, ["status", RELEASE, "--namespace", NS, "--output", "json"]))
    expect([status.version, status.info.status]).toEqual([2, "deployed"])
  })

  test("leaves the CRD another chart installed as it was", async () => {
    const crd = await get(crds, undefined, crdDoc.metadata.name)
    expect(crd.metadata.resourceVersion).toBe(crdBefore.metadata.resourceVersion)
    expect(crd.metadata.annotations?.["meta.helm.sh/release-name"]).toBeUndefined()
  })

  test("the adopted Deployment rolls its pods over to the new template", async () => {
    // (Whether the new pod then runs is the scheduler's and KWOK's business, not the chart's.)
    await waitFor(
      async () => {
        const d = await get(Deployments, NS, RELEASE)
        return d.status?.observedGeneration === d.metadata.generation && d.status?.updatedReplicas === d.spec.replicas
      },
      { timeoutMs: 30_000, message: "the upgraded operator Deployment to have its new ReplicaSet" },
    )
  })
})
