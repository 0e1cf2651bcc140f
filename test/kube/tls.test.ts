/**
 * The Kubernetes client over HTTPS, against the real kube-apiserver with a CA
 * of its own: every way a kubeconfig or a pod can say how to reach and trust
 * the server, and who the client is. (The emulator speaks plain HTTP, so this
 * file runs on the real control plane only.)
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test"
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { KubeConfig } from "@kubernetes/client-node"
import { Effect, Either } from "effect"
import { stringify } from "yaml"
import { loadKubeConfig, make as makeKubeClient, type KubeClientService } from "../../src/runtime/client.ts"
import { ConfigMaps, Namespaces } from "../../src/runtime/resources.ts"
import { controlPlaneAvailable, controlPlaneSkipReason, startControlPlane, type ControlPlane } from "../support/control-plane.ts"
import { applyManifests } from "../support/servers.ts"
import { waitFor } from "../support/wait.ts"

setDefaultTimeout(90_000)

const describeReal = controlPlaneAvailable() ? describe : describe.skip
const suffix = controlPlaneAvailable() ? "" : ` — skipped: ${controlPlaneSkipReason}`

/** Who the server says the client is (authentication.k8s.io SelfSubjectReview). */
const whoAmI = async (kube: KubeClientService): Promise<string> => {
  const review = (await Effect.runPromise(
    kube.request({
      method: "POST",
      path: "/apis/authentication.k8s.io/v1/selfsubjectreviews",
      body: { apiVersion: "authentication.k8s.io/v1", kind: "SelfSubjectReview" },
    }),
  )) as { status: { userInfo: { username: string } } }
  return review.status.userInfo.username
}

const failure = async (kube: KubeClientService) => {
  const r = await Effect.runPromise(Effect.either(kube.list(Namespaces)))
  return Either.isLeft(r) ? r.left : undefined
}

const kubeconfig = (cluster: Record<string, unknown>, user: Record<string, unknown>) =>
  stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name: "c", cluster }],
    users: [{ name: "u", user }],
    contexts: [{ name: "x", context: { cluster: "c", user: "u" } }],
    "current-context": "x",
  })

const fromYaml = (yaml: string) => {
  const kc = new KubeConfig()
  kc.loadFromString(yaml)
  return makeKubeClient(kc)
}

describeReal(`the Kubernetes client over HTTPS [kube-apiserver]${suffix}`, () => {
  let plane: ControlPlane
  let dir: string
  let caData: string
  let saToken: string
  beforeAll(async () => {
    plane = await startControlPlane()
    dir = mkdtempSync(join(tmpdir(), "tls-test-"))
    caData = Buffer.from(plane.caPem).toString("base64")
    await applyManifests(plane.admin, [
      { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: "reader", namespace: "default" } },
      { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: "other", namespace: "default" } },
      {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "ClusterRole",
        metadata: { name: "configmap-reader" },
        rules: [{ apiGroups: [""], resources: ["configmaps"], verbs: ["get", "list"] }],
      },
      {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "ClusterRoleBinding",
        metadata: { name: "configmap-reader" },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "configmap-reader" },
        subjects: [{ kind: "ServiceAccount", name: "reader", namespace: "default" }],
      },
    ])
    saToken = await plane.serviceAccountToken("default", "reader")
  })
  afterAll(async () => {
    await plane?.stop()
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  test("certificate-authority-data and a bearer token: the server is trusted and the token is sent", async () => {
    const kube = fromYaml(kubeconfig({ server: plane.url, "certificate-authority-data": caData }, { token: saToken }))
    expect(await whoAmI(kube)).toBe("system:serviceaccount:default:reader")
    // The role it is bound to lets it read ConfigMaps (kube-root-ca.crt is in every namespace).
    // (RBAC's cache takes a moment to see the new binding.)
    const configMaps = await waitFor(() => Effect.runPromise(kube.list(ConfigMaps, { namespace: "default" })), {
      message: "the reader to be allowed to list ConfigMaps",
    })
    expect(configMaps.items.map((n) => n.metadata.name)).toContain("kube-root-ca.crt")
  })

  test("certificate-authority as a file, client certificate and key as files: the certificate is the only credential", async () => {
    writeFileSync(join(dir, "ca.crt"), plane.caPem)
    const kube = fromYaml(
      kubeconfig(
        { server: plane.url, "certificate-authority": join(dir, "ca.crt") },
        { "client-certificate": join(plane.dir, "admin.crt"), "client-key": join(plane.dir, "admin.key") },
      ),
    )
    expect(await whoAmI(kube)).toBe("admin")
  })

  test("client-certificate-data and client-key-data", async () => {
    const kube = fromYaml(
      kubeconfig(
        { server: plane.url, "certificate-authority-data": caData },
        {
          "client-certificate-data": readFileSync(join(plane.dir, "admin.crt")).toString("base64"),
          "client-key-data": readFileSync(join(plane.dir, "admin.key")).toString("base64"),
        },
      ),
    )
    expect(await whoAmI(kube)).toBe("admin")
  })

  test("without the CA the server is not trusted, and the failure says why; insecure-skip-tls-verify trusts it", async () => {
    const untrusted = await failure(fromYaml(kubeconfig({ server: plane.url }, { token: saToken })))
    expect(untrusted?._tag).toBe("KubeTransient")
    expect(untrusted?.message).toMatch(/certificate|self.signed|verify/i)
    expect(untrusted?.message).not.toContain(saToken)
    const skipping = fromYaml(kubeconfig({ server: plane.url, "insecure-skip-tls-verify": true }, { token: saToken }))
    expect(await whoAmI(skipping)).toBe("system:serviceaccount:default:reader")
  })

  test("tls-server-name: the certificate is checked against that name, not the URL's host", async () => {
    const named = (name: string) =>
      fromYaml(kubeconfig({ server: plane.url, "certificate-authority-data": caData, "tls-server-name": name }, { token: saToken }))
    expect(await whoAmI(named("control-plane.test"))).toBe("system:serviceaccount:default:reader")
    const wrong = await failure(named("not-this-server.test"))
    expect(wrong?._tag).toBe("KubeTransient")
    expect(wrong?.message).toMatch(/host|name|altname|certificate/i)
  })

  test("an exec credential plugin supplies the token", async () => {
    const plugin = join(dir, "credential-plugin.sh")
    writeFileSync(
      plugin,
      `#!/bin/sh\nprintf '%s' '${JSON.stringify({
        apiVersion: "client.authentication.k8s.io/v1",
        kind: "ExecCredential",
        status: { token: saToken },
      })}'\n`,
    )
    chmodSync(plugin, 0o755)
    const kube = fromYaml(
      kubeconfig(
        { server: plane.url, "certificate-authority-data": caData },
        { exec: { apiVersion: "client.authentication.k8s.io/v1", command: plugin, interactiveMode: "Never" } },
      ),
    )
    expect(await whoAmI(kube)).toBe("system:serviceaccount:default:reader")
  })

  test("KUBECONFIG with several files is merged as kubectl merges it", async () => {
    const first = join(dir, "clusters.yaml")
    const second = join(dir, "users.yaml")
    writeFileSync(
      first,
      stringify({
        apiVersion: "v1",
        kind: "Config",
        clusters: [{ name: "c", cluster: { server: plane.url, "certificate-authority-data": caData } }],
        contexts: [{ name: "x", context: { cluster: "c", user: "u" } }],
        "current-context": "x",
        users: [],
      }),
    )
    writeFileSync(second, stringify({ apiVersion: "v1", kind: "Config", users: [{ name: "u", user: { token: saToken } }], clusters: [], contexts: [] }))
    const saved = process.env.KUBECONFIG
    process.env.KUBECONFIG = `${first}:${second}`
    try {
      expect(await whoAmI(makeKubeClient(loadKubeConfig(undefined)))).toBe("system:serviceaccount:default:reader")
    } finally {
      if (saved === undefined) delete process.env.KUBECONFIG
      else process.env.KUBECONFIG = saved
    }
  })

  test("in a pod: the service account's token and ca.crt, and a rotated token is used at the next request", async () => {
    const prefix = join(dir, "pod")
    const accountDir = join(prefix, "var/run/secrets/kubernetes.io/serviceaccount")
    mkdirSync(accountDir, { recursive: true })
    writeFileSync(join(accountDir, "ca.crt"), plane.caPem)
    writeFileSync(join(accountDir, "token"), saToken)
    writeFileSync(join(accountDir, "namespace"), "default")
    const url = new URL(plane.url)
    const saved = { host: process.env.KUBERNETES_SERVICE_HOST, port: process.env.KUBERNETES_SERVICE_PORT }
    process.env.KUBERNETES_SERVICE_HOST = url.hostname
    process.env.KUBERNETES_SERVICE_PORT = url.port
    try {
      const kc = new KubeConfig()
      kc.loadFromCluster(prefix)
      const kube = makeKubeClient(kc)
      expect(await whoAmI(kube)).toBe("system:serviceaccount:default:reader")
      // The kubelet rotates the projected token: the next request carries the new one.
      writeFileSync(join(accountDir, "token"), await plane.serviceAccountToken("default", "other"))
      expect(await whoAmI(kube)).toBe("system:serviceaccount:default:other")
    } finally {
      for (const [k, v] of Object.entries({ KUBERNETES_SERVICE_HOST: saved.host, KUBERNETES_SERVICE_PORT: saved.port })) {
        if (v === undefined) delete process.env[k]
        else process.env[k] = v
      }
    }
  })
})
