/**
 * The `check` command against each API server (the emulator with
 * authentication and RBAC on, and the real kube-apiserver; the checks run with
 * the operator's service-account token) and a test database: everything passes on a correct installation, and each check
 * fails, naming what is wrong, when its part of the installation is broken.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import type { KubeConfig } from "@kubernetes/client-node"
import { ConfigProvider, Effect, Redacted } from "effect"
import YAML from "yaml"
import { formatResults, exitCodeOf, runChecks, type CheckName, type CheckResult } from "../../src/check.ts"
import { operatorConfig } from "../../src/config.ts"
import { ConfigMaps } from "../../src/runtime/resources.ts"
import { applyManifests, forEachServer, rbacProbes, resourceType, startServer, waitForGrants, type ServerKind, type TestServer } from "../support/servers.ts"
import { createTestDatabase, repoRoot, type TestDatabase } from "../support/postgres.ts"

// Servers start and every wait has its own deadline; this is only the backstop (Bun sets it per file).
setDefaultTimeout(60_000)

const SA_TOKEN = "operator-sa-token"
const SA_USER = "system:serviceaccount:guacamole:awms-guacamole-operator"
const NAMESPACE = "guacamole"
const CONFIG_MAPS = ["xlscsde-enterprise-certificate", "firefox-config"]

const loadYamlDocs = (path: string): any[] =>
  YAML.parseAllDocuments(readFileSync(resolve(repoRoot, path), "utf8")).map((d) => d.toJS())
const projectCrd = () => loadYamlDocs("deploy/crd-analyticsworkspacebindings.yaml")[0]
const rbac = () => loadYamlDocs("deploy/rbac.yaml")

interface Installation {
  /** The binding CRD to install (undefined: none). */
  crd?: any
  /** The RBAC objects to apply. */
  rbac?: any[]
  configMaps?: string[]
  namespaces?: string[]
}

/** An API server holding an installation; the admin sets it up, the checks run as the operator's service account. */
async function cluster(kind: ServerKind, installation: Installation = {}): Promise<TestServer> {
  const api = await startServer(kind, {
    namespaces: installation.namespaces ?? [NAMESPACE, "jupyterhub"],
    crds: "crd" in installation ? (installation.crd ? [installation.crd] : []) : [projectCrd()],
    rbac: false,
    emulator: { auth: { enforceRbac: true, users: { [SA_TOKEN]: { username: SA_USER } } } },
  })
  await applyManifests(api.admin, installation.rbac ?? rbac())
  for (const name of installation.configMaps ?? CONFIG_MAPS) {
    await Effect.runPromise(
      api.admin.create(ConfigMaps, NAMESPACE, { apiVersion: "v1", kind: "ConfigMap", metadata: { name }, data: { "policies.json": "{}" } }),
    )
  }
  return api
}

/**
 * The operator's service-account credentials: the emulator's registered token, or a TokenRequest on the
 * real server (for the account deploy/rbac.yaml makes; where it made none, one without any grant).
 */
async function serviceAccountKubeConfig(api: TestServer): Promise<KubeConfig> {
  if (api.emulator) return api.emulator.kubeConfigFor(SA_TOKEN)
  const plane = api.controlPlane!
  const namespaces = (await api.list("", "namespaces")).map((n) => n.metadata.name)
  const namespace = namespaces.includes(NAMESPACE) ? NAMESPACE : "default"
  if (!(await api.get("", "serviceaccounts", namespace, "awms-guacamole-operator"))) {
    await Effect.runPromise(
      api.admin.create(resourceType("", "serviceaccounts"), namespace, { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: "awms-guacamole-operator" } }),
    )
  }
  const kc = plane.kubeConfigFor(await plane.serviceAccountToken(namespace, "awms-guacamole-operator"))
  // With deploy/rbac.yaml's roles applied, wait until the authorizer has seen their bindings.
  const bound = (await api.list("rbac.authorization.k8s.io", "rolebindings", NAMESPACE).catch(() => [])).length > 0
  if (bound && namespace === NAMESPACE) await waitForGrants(kc, rbacProbes)
  return kc
}

/** Under PGlite the password is not checked: use one that cannot appear in the report by chance. */
const passwordOf = (db: TestDatabase) => (db.embedded ? "Pw-7f3c9a-never-printed" : Redacted.value(db.settings.password))

/** The report never contains DB_PASS (asserted only when the password is not also some other printed value). */
const expectNoPassword = (output: string, db: TestDatabase) => {
  const password = passwordOf(db)
  const visible = [db.settings.username, db.settings.host, db.settings.database, String(db.settings.port)]
  if (!visible.some((v) => v.includes(password))) expect(output).not.toContain(password)
}

const envFor = (db: TestDatabase, overrides: Record<string, string | undefined> = {}): Record<string, string> => {
  const env: Record<string, string | undefined> = {
    DB_HOST: db.settings.host,
    DB_PORT: String(db.settings.port),
    DB_NAME: db.settings.database,
    DB_USER: db.settings.username,
    DB_PASS: passwordOf(db),
    DB_SSLMODE: db.settings.sslmode,
    IMAGE_NAME: "lsc-sde/browser:1.0",
    BROWSER_URL: "https://jupyter.example.test",
    NAMESPACE,
    ...overrides,
  }
  return Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined))
}

const configFrom = (env: Record<string, string>) =>
  Effect.runSync(Effect.either(Effect.withConfigProvider(operatorConfig, ConfigProvider.fromMap(new Map(Object.entries(env))))))

const check = async (api: TestServer, env: Record<string, string>) =>
  Effect.runPromise(runChecks({ config: configFrom(env), kubeconfig: await serviceAccountKubeConfig(api), timeout: "5 seconds" }))

const byName = (results: ReadonlyArray<CheckResult>) => new Map(results.map((r) => [r.name, r]))
const statuses = (results: ReadonlyArray<CheckResult>) => Object.fromEntries(results.map((r) => [r.name, r.status]))
const allOk = (except: Partial<Record<CheckName, "fail" | "skip">> = {}): Record<string, CheckResult["status"]> => ({
  configuration: "ok",
  database: "ok",
  schema: "ok",
  kubernetes: "ok",
  crd: "ok",
  permissions: "ok",
  namespace: "ok",
  ...except,
})

let db: TestDatabase
beforeAll(async () => {
  db = await createTestDatabase()
})
afterAll(() => db?.close())

forEachServer("check", (kind) => {
  describe("check on a correct installation", () => {
    test("every check passes and the report says so", async () => {
      const api = await cluster(kind)
      try {
        const results = await check(api, envFor(db))
        expect(statuses(results)).toEqual(allOk())
        expect(exitCodeOf(results)).toBe(0)
        const report = formatResults(results)
        expect(report).toContain(`ok    database: connected to ${db.settings.host}:${db.settings.port}/${db.settings.database} as ${db.settings.username}`)
        expect(report).toContain("ok    permissions: all 26 permissions the operator uses are granted")
        expect(report).toContain("ok    crd: analyticsworkspacebindings.xlscsde.nhs.uk serves v1")
        expect(report).toContain("status.message declared")
        expect(report.trimEnd().split("\n").at(-1)).toBe("all 7 checks passed")
        expectNoPassword(report, db)
      } finally {
        await api.stop()
      }
    })

    test("with LEADER_ELECTION the Lease permissions are checked too, and granted by deploy/rbac.yaml", async () => {
      const api = await cluster(kind)
      try {
        const results = await check(api, envFor(db, { LEADER_ELECTION: "true" }))
        expect(byName(results).get("permissions")?.detail).toBe("all 29 permissions the operator uses are granted")
      } finally {
        await api.stop()
      }
    })
  })

  describe("each check fails, naming what is wrong", () => {
    test("invalid configuration: the missing setting is named and the checks needing it are skipped", async () => {
      const api = await cluster(kind)
      try {
        const results = await check(api, envFor(db, { BROWSER_URL: undefined }))
        expect(statuses(results)).toEqual(
          allOk({ configuration: "fail", database: "skip", schema: "skip", permissions: "skip", namespace: "skip" }),
        )
        const line = formatResults(results).split("\n")[0]!
        expect(line).toStartWith("FAIL  configuration: Invalid configuration: BROWSER_URL is required")
        expect(line).toContain("remedy:")
        expect(exitCodeOf(results)).toBe(1)
      } finally {
        await api.stop()
      }
    })

    test("database unreachable: a closed port", async () => {
      const listener = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } })
      const closedPort = listener.port
      listener.stop(true)
      const api = await cluster(kind)
      try {
        const results = await check(api, envFor(db, { DB_HOST: "127.0.0.1", DB_PORT: String(closedPort) }))
        expect(statuses(results)).toEqual(allOk({ database: "fail", schema: "skip" }))
        const database = byName(results).get("database")!
        expect(database.detail).toContain(`cannot connect to 127.0.0.1:${closedPort}/`)
        expect(database.detail).toContain("ECONNREFUSED")
        expect(database.remedy).toContain("DB_HOST")
      } finally {
        await api.stop()
      }
    })

    test("a database server that accepts connections but never answers: the check gives up at its deadline", async () => {
      const silent = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } })
      const api = await cluster(kind)
      try {
        const results = await Effect.runPromise(
          runChecks({
            config: configFrom(envFor(db, { DB_HOST: "127.0.0.1", DB_PORT: String(silent.port) })),
            kubeconfig: await serviceAccountKubeConfig(api),
            timeout: "300 millis",
          }),
        )
        expect(statuses(results)).toEqual(allOk({ database: "fail", schema: "skip" }))
        expect(byName(results).get("database")!.detail).toBe(`cannot connect to 127.0.0.1:${silent.port}/${db.settings.database}: no answer within 300ms`)
      } finally {
        silent.stop(true)
        await api.stop()
      }
    })

    test("schema missing: an empty database", async () => {
      const empty = await createTestDatabase({ schema: "none" })
      const api = await cluster(kind)
      try {
        const results = await check(api, envFor(empty))
        expect(statuses(results)).toEqual(allOk({ schema: "fail" }))
        const schema = byName(results).get("schema")!
        expect(schema.detail).toContain("the Guacamole schema is not installed")
        expect(schema.items).toContain("table guacamole_entity")
        expect(schema.items).toContain("enum type guacamole_object_permission_type")
      } finally {
        await api.stop()
        await empty.close()
      }
    })

    test("schema of an unsupported version: a column the operator writes is missing", async () => {
      const old = await createTestDatabase()
      const api = await cluster(kind)
      try {
        await old.sql`ALTER TABLE guacamole_user DROP COLUMN valid_until`
        const results = await check(api, envFor(old))
        expect(statuses(results)).toEqual(allOk({ schema: "fail" }))
        expect(byName(results).get("schema")!.items).toEqual(["column guacamole_user.valid_until"])
      } finally {
        await api.stop()
        await old.close()
      }
    })

    test("CRD missing", async () => {
      const api = await cluster(kind, { crd: undefined })
      try {
        const results = await check(api, envFor(db))
        expect(statuses(results)).toEqual(allOk({ crd: "fail" }))
        expect(formatResults(results)).toContain(
          "FAIL  crd: the CRD analyticsworkspacebindings.xlscsde.nhs.uk is not installed — remedy: kubectl apply -f deploy/crd-analyticsworkspacebindings.yaml",
        )
      } finally {
        await api.stop()
      }
    })

    test("CRD without the scale subresource", async () => {
      const crd = projectCrd()
      delete crd.spec.versions[0].subresources.scale
      const api = await cluster(kind, { crd })
      try {
        const results = await check(api, envFor(db))
        expect(statuses(results)).toEqual(allOk({ crd: "fail" }))
        expect(byName(results).get("crd")!.items).toEqual(["no scale subresource"])
      } finally {
        await api.stop()
      }
    })

    test("a permission missing: a Role without delete on secrets", async () => {
      const objects = rbac()
      const role = objects.find((o) => o.kind === "Role")
      role.rules = role.rules.flatMap((r: any) =>
        r.resources.includes("secrets")
          ? [
              { ...r, resources: r.resources.filter((x: string) => x !== "secrets") },
              { ...r, resources: ["secrets"], verbs: r.verbs.filter((v: string) => v !== "delete") },
            ]
          : [r],
      )
      const api = await cluster(kind, { rbac: objects })
      try {
        const results = await check(api, envFor(db))
        expect(statuses(results)).toEqual(allOk({ permissions: "fail" }))
        const permissions = byName(results).get("permissions")!
        expect(permissions.items).toEqual(["delete secrets in namespace guacamole"])
        expect(formatResults(results)).toContain("FAIL  permissions: 1 of 26 permissions missing: delete secrets in namespace guacamole — remedy:")
      } finally {
        await api.stop()
      }
    })

    test("NAMESPACE missing: named, with the admin's credentials and with the service account's", async () => {
      const api = await cluster(kind, { namespaces: ["jupyterhub", "elsewhere"], rbac: [], configMaps: [] })
      try {
        // The admin may read namespaces: only the namespace check fails.
        const asAdmin = await Effect.runPromise(
          runChecks({ config: configFrom(envFor(db, { NAMESPACE: "browsers" })), kubeconfig: api.kubeConfig(), timeout: "5 seconds" }),
        )
        expect(statuses(asAdmin)).toEqual(allOk({ namespace: "fail" }))
        expect(byName(asAdmin).get("namespace")!.detail).toBe("namespace browsers (NAMESPACE) does not exist")
          // With the service account's credentials everything in a missing namespace is forbidden (its Role
        // can only live there), as on a real cluster: the line says so and names the namespace.
        const asSa = await check(api, envFor(db, { NAMESPACE: "browsers" }))
        expect(byName(asSa).get("namespace")!.detail).toStartWith("namespace browsers (NAMESPACE) does not exist, or these credentials have no access in it")
        expect(byName(asSa).get("namespace")!.items).toEqual(["browsers"])
      } finally {
        await api.stop()
      }
    })

    test("a ConfigMap missing", async () => {
      const api = await cluster(kind, { configMaps: ["xlscsde-enterprise-certificate"] })
      try {
        const results = await check(api, envFor(db))
        expect(statuses(results)).toEqual(allOk({ namespace: "fail" }))
        const namespace = byName(results).get("namespace")!
        expect(namespace.items).toEqual(["firefox-config"])
        expect(namespace.detail).toContain("ConfigMap firefox-config missing")
      } finally {
        await api.stop()
      }
    })

    test("the API server unreachable: the checks needing it are skipped", async () => {
      const api = await cluster(kind)
      const kc = await serviceAccountKubeConfig(api)
      await api.stop()
      const results = await Effect.runPromise(runChecks({ config: configFrom(envFor(db)), kubeconfig: kc, timeout: "5 seconds" }))
      expect(statuses(results)).toEqual(allOk({ kubernetes: "fail", crd: "skip", permissions: "skip", namespace: "skip" }))
      expect(byName(results).get("kubernetes")!.detail).toContain(`cannot reach the API server at ${api.url}`)
    })
  })

  describe("awms-guacamole-operator check, as a command", () => {
    let api: TestServer
    let dir: string
    let kubeconfigPath: string
    beforeAll(async () => {
      api = await cluster(kind)
      dir = mkdtempSync(join(tmpdir(), "check-cmd-"))
      kubeconfigPath = join(dir, "kubeconfig")
      writeFileSync(kubeconfigPath, (await serviceAccountKubeConfig(api)).exportConfig(), { mode: 0o600 })
    })
    afterAll(async () => {
      await api?.stop()
      if (dir) rmSync(dir, { recursive: true, force: true })
    })

    const run = async (args: string[], env: Record<string, string>) => {
      const child = Bun.spawn(["bun", "run", "src/main.ts", ...args], {
        cwd: repoRoot,
        env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? tmpdir(), ...env },
        stdout: "pipe",
        stderr: "pipe",
      })
      const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited])
      return { stdout, stderr, code }
    }

    test("a passing installation: one line per check, a summary, exit status 0", async () => {
      const { stdout, stderr, code } = await run(["check", "--kubeconfig", kubeconfigPath], envFor(db))
      expect(stderr).toBe("")
      expect(code).toBe(0)
      const lines = stdout.trimEnd().split("\n")
      expect(lines.map((l) => l.slice(0, 6) + l.slice(6).split(":")[0])).toEqual([
        "ok    configuration",
        "ok    database",
        "ok    schema",
        "ok    kubernetes",
        "ok    crd",
        "ok    permissions",
        "ok    namespace",
        "all 7 checks passed",
      ])
      expect(lines[3]).toBe(`ok    kubernetes: API server ${api.url} answers, version ${api.controlPlane?.version ?? "v1.32.0"}`)
      expectNoPassword(stdout, db)
    }, 30_000)

    test("a failing check: exit status 1; a usage error: exit status 2", async () => {
      const failing = await run(["check", "--kubeconfig", kubeconfigPath], envFor(db, { NAMESPACE: "nowhere" }))
      expect(failing.code).toBe(1)
      expect(failing.stdout).toContain("FAIL  namespace: namespace nowhere (NAMESPACE) does not exist, or these credentials have no access in it")
      expect(failing.stdout).toContain("delete secrets in namespace nowhere")
      expect(failing.stdout.trimEnd().split("\n").at(-1)).toStartWith("2 of 7 checks failed")
      const usage = await run(["check", "--no-such-option"], envFor(db))
      expect(usage.code).toBe(2)
      expect(usage.stderr).toContain("Usage:")
    }, 30_000)
  })
})
