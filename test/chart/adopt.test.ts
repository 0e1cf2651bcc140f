/**
 * crds.install, firefoxConfig.create and browser.createNamespace default to "auto": against a
 * cluster (`helm template --dry-run=server`, which is how install and upgrade render, `lookup`
 * included), what another release or tool already made is left out, so an install never fails
 * on it nor takes it over; what this release made is rendered again, so an upgrade keeps it.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test"
import * as k8s from "@kubernetes/client-node"
import YAML from "yaml"
import { startEmulator, type Emulator } from "../emulator/index.ts"
import { projectCrdPath, loadYaml } from "../support/operator.ts"
import { chartDir, fieldValuesPath, helm, helmAsync, helmMissingReason, minimalValues, RELEASE, RELEASE_NAMESPACE, valuesFile } from "./helm.ts"

setDefaultTimeout(60_000)

const describeWithHelm = helm ? describe : describe.skip
if (!helm) console.warn(`skipped: ${helmMissingReason}`)

const BROWSERS = "researchers"
const ours = { "meta.helm.sh/release-name": RELEASE, "meta.helm.sh/release-namespace": RELEASE_NAMESPACE }

let api: Emulator
const renderAgainstCluster = async (values: unknown): Promise<any[]> => {
  const r = await helmAsync(["template", RELEASE, chartDir, "--namespace", RELEASE_NAMESPACE, "--dry-run=server", "--kubeconfig", api.kubeconfigPath, "--values", valuesFile(values)])
  if (r.status !== 0) throw new Error(r.stderr)
  return YAML.parseAllDocuments(r.stdout).map((d) => d.toJS()).filter((o) => o)
}
const kinds = (objects: any[]) => objects.map((o) => o.kind)

describeWithHelm("what already exists in the cluster", () => {
  beforeAll(async () => {
    api = await startEmulator({ namespaces: [RELEASE_NAMESPACE, BROWSERS, "jupyterhub"], crds: [loadYaml(projectCrdPath)] })
  })
  afterAll(() => api?.stop())

  test("made by someone else (a CRD, a firefox-config, the namespace) is left out, the rest rendered", async () => {
    const core = api.kubeConfig().makeApiClient(k8s.CoreV1Api)
    await core.createNamespacedConfigMap({ namespace: BROWSERS, body: { metadata: { name: "firefox-config" }, data: {} } })
    const objects = await renderAgainstCluster({ ...minimalValues, browser: { ...minimalValues.browser, namespace: BROWSERS } })
    expect(kinds(objects)).not.toContain("CustomResourceDefinition")
    expect(kinds(objects)).not.toContain("ConfigMap")
    expect(kinds(objects)).not.toContain("Namespace")
    expect(kinds(objects)).toContain("Deployment")
    expect(kinds(objects)).toContain("Role")
  })

  test("made by this release is rendered again (an upgrade keeps it); true renders it regardless", async () => {
    const ext = api.kubeConfig().makeApiClient(k8s.ApiextensionsV1Api)
    await ext.patchCustomResourceDefinition(
      { name: "analyticsworkspacebindings.xlscsde.nhs.uk", body: { metadata: { annotations: ours } } },
      k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch),
    )
    const objects = await renderAgainstCluster({ ...minimalValues, browser: { ...minimalValues.browser, namespace: BROWSERS } })
    expect(kinds(objects)).toContain("CustomResourceDefinition")
    expect(kinds(objects)).not.toContain("ConfigMap")
    const forced = await renderAgainstCluster({ ...minimalValues, browser: { ...minimalValues.browser, namespace: BROWSERS }, firefoxConfig: { create: true } })
    expect(kinds(forced)).toContain("ConfigMap")
  })
})

describeWithHelm("the installer's notes", () => {
  beforeAll(async () => {
    api = await startEmulator({ namespaces: [RELEASE_NAMESPACE, "jupyterhub"] })
  })
  afterAll(() => api?.stop())

  test("say how to run check in the operator's pod, and what to look at in the browser namespace", async () => {
    // The emulator serves no policy/v1 or OpenAPI: the PodDisruptionBudget is left out and validation off.
    const values = fieldValuesPath ? [fieldValuesPath] : [valuesFile(minimalValues)]
    const r = await helmAsync([
      "install", RELEASE, chartDir, "--namespace", RELEASE_NAMESPACE, "--dry-run=client", "--disable-openapi-validation",
      "--kubeconfig", api.kubeconfigPath, "--set", "podDisruptionBudget.enabled=false", ...values.flatMap((v) => ["--values", v]),
    ])
    expect(r.stderr).toBe("")
    const notes = r.stdout.slice(r.stdout.indexOf("NOTES:"))
    expect(notes).toContain(`kubectl exec -n ${RELEASE_NAMESPACE} deploy/${RELEASE} -c controller -- /usr/local/bin/awms-guacamole-operator check`)
    const browsers = fieldValuesPath ? "guacamole" : "guacamole-browsers"
    expect(notes).toContain(`kubectl get configmap -n ${browsers} firefox-config xlscsde-enterprise-certificate`)
    expect(notes).toContain('matched by pods {"app.kubernetes.io/component":"guacd"}')
  })
})
