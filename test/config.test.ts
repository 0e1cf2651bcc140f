import { describe, expect, test } from "bun:test"
import { ConfigError, ConfigProvider, Duration, Effect, Either, Redacted } from "effect"
import { defaultIdleSettings, formatConfigError, type OperatorConfig, operatorConfig, parseDuration, settingsTable } from "../src/config.ts"
import { defaultBrowserPod } from "../src/domain/browser-pod.ts"

const SECRET = "s3cr3t-Pa55 w0rd!"
const minimal = { DB_USER: "guacamole@myserver", DB_PASS: SECRET, IMAGE_NAME: "lscsde/browser:1.2.3", BROWSER_URL: "https://jupyter.example.org/" }

const load = (env: Record<string, string>): Either.Either<OperatorConfig, ConfigError.ConfigError> =>
  Effect.runSync(
    Effect.either(Effect.withConfigProvider(operatorConfig, ConfigProvider.fromMap(new Map(Object.entries(env)))))
  )

const ok = (env: Record<string, string>): OperatorConfig => {
  const r = load(env)
  if (Either.isLeft(r)) throw new Error(formatConfigError(r.left))
  return r.right
}

const fails = (env: Record<string, string>): string => {
  const r = load(env)
  if (Either.isRight(r)) throw new Error("expected the configuration to be rejected")
  const message = formatConfigError(r.left)
  expect(message).not.toContain(SECRET)
  return message
}

describe("defaults", () => {
  test("only the required settings given: everything else has its documented default", () => {
    const c = ok(minimal)
    expect(c.db.host).toBe("localhost")
    expect(c.db.port).toBe(5432)
    expect(c.db.database).toBe("guacamole")
    expect(c.db.username).toBe("guacamole@myserver")
    expect(Redacted.value(c.db.password)).toBe(SECRET)
    expect(c.db.sslmode).toBe("prefer")
    expect(c.db.maxConnections).toBe(4)
    expect(c.workload).toEqual({
      namespace: "guacamole",
      imageName: "lscsde/browser:1.2.3",
      browserUrl: "https://jupyter.example.org/",
      operatorName: "awms-guacamole-operator",
      pod: defaultBrowserPod
    })
    expect(c.idle).toEqual(defaultIdleSettings)
    expect(c.watchNamespaces).toEqual([])
    expect(c.logLevel).toBe("info")
    expect(c.logFormat).toBe("json")
    expect(c.concurrency).toBe(8)
    expect(c.httpPort).toBe(8080)
    expect(Duration.toMillis(c.resyncInterval)).toBe(600_000)
    expect(c.watchTimeoutSeconds).toBe(60)
    expect(Duration.toMillis(c.watchIdleTimeout)).toBe(90_000)
    expect(c.leaderElection).toBe(false)
    expect(c.kubeconfig).toBeUndefined()
  })

  test("the defaults shown in settingsTable are the ones applied", () => {
    const c = ok(minimal)
    const shown = Object.fromEntries(settingsTable.map((s) => [s.name, s.default]))
    expect(shown).toMatchObject({
      DB_HOST: c.db.host,
      DB_PORT: String(c.db.port),
      DB_NAME: c.db.database,
      DB_SSLMODE: c.db.sslmode,
      DB_POOL_MAX: String(c.db.maxConnections),
      NAMESPACE: c.workload.namespace,
      LOG_LEVEL: c.logLevel,
      LOG_FORMAT: c.logFormat,
      MAX_CONCURRENT_RECONCILES: String(c.concurrency),
      HTTP_PORT: String(c.httpPort),
      WATCH_TIMEOUT_SECONDS: String(c.watchTimeoutSeconds),
      LEADER_ELECTION: String(c.leaderElection)
    })
    expect(Duration.toMillis(Either.getOrThrow(parseDuration(shown.RESYNC_INTERVAL!)))).toBe(Duration.toMillis(c.resyncInterval))
    expect(Duration.toMillis(Either.getOrThrow(parseDuration(shown.WATCH_IDLE_TIMEOUT!)))).toBe(Duration.toMillis(c.watchIdleTimeout))
  })

  test("a variable set to the empty string or blanks counts as not set", () => {
    const c = ok({ ...minimal, DB_HOST: "", DB_PORT: "  ", NAMESPACE: "", LOG_LEVEL: "", KUBECONFIG: "" })
    expect(c.db.host).toBe("localhost")
    expect(c.db.port).toBe(5432)
    expect(c.workload.namespace).toBe("guacamole")
    expect(c.logLevel).toBe("info")
    expect(c.kubeconfig).toBeUndefined()
    expect(fails({ ...minimal, DB_USER: " " })).toStartWith("Invalid configuration: DB_USER is required")
  })
})

describe("every setting read", () => {
  test("the original operator's variables keep their meaning", () => {
    const c = ok({
      ...minimal,
      DB_HOST: "pg.postgres.database.azure.com",
      DB_PORT: "6432",
      DB_NAME: "guac",
      NAMESPACE: "guac-clients"
    })
    expect(c.db.host).toBe("pg.postgres.database.azure.com")
    expect(c.db.port).toBe(6432)
    expect(c.db.database).toBe("guac")
    expect(c.workload.namespace).toBe("guac-clients")
  })

  test("the other settings", () => {
    const c = ok({
      ...minimal,
      DB_SSLMODE: "Verify-Full",
      DB_POOL_MAX: "10",
      WATCH_NAMESPACES: " jupyterhub, other ,, jupyterhub",
      LOG_LEVEL: "WARN",
      LOG_FORMAT: "Pretty",
      MAX_CONCURRENT_RECONCILES: "256",
      HTTP_PORT: "0",
      RESYNC_INTERVAL: "1h30m",
      WATCH_TIMEOUT_SECONDS: "300",
      WATCH_IDLE_TIMEOUT: "2 minutes",
      LEADER_ELECTION: "TRUE",
      KUBECONFIG: "/home/me/.kube/config"
    })
    expect(c.db.sslmode).toBe("verify-full")
    expect(c.db.maxConnections).toBe(10)
    expect(c.watchNamespaces).toEqual(["jupyterhub", "other"])
    expect(c.logLevel).toBe("warning")
    expect(c.logFormat).toBe("pretty")
    expect(c.concurrency).toBe(256)
    expect(c.httpPort).toBe(0)
    expect(Duration.toMillis(c.resyncInterval)).toBe(5_400_000)
    expect(c.watchTimeoutSeconds).toBe(300)
    expect(Duration.toMillis(c.watchIdleTimeout)).toBe(120_000)
    expect(c.leaderElection).toBe(true)
    expect(c.kubeconfig).toBe("/home/me/.kube/config")
  })

  test("the password is taken exactly as given, spaces included", () => {
    expect(Redacted.value(ok({ ...minimal, DB_PASS: " pass " }).db.password)).toBe(" pass ")
  })

  test("log levels are accepted in any case, warn and warning alike", () => {
    for (const [raw, level] of [["TRACE", "trace"], ["Debug", "debug"], ["warning", "warning"], ["warn", "warning"], ["ERROR", "error"]]) {
      expect(ok({ ...minimal, LOG_LEVEL: raw! }).logLevel).toBe(level as OperatorConfig["logLevel"])
    }
  })

  test("booleans", () => {
    for (const raw of ["true", "1", "yes", "on"]) expect(ok({ ...minimal, LEADER_ELECTION: raw }).leaderElection).toBe(true)
    for (const raw of ["false", "0", "no", "OFF"]) expect(ok({ ...minimal, LEADER_ELECTION: raw }).leaderElection).toBe(false)
  })

  test("durations in Effect's words and in short form", () => {
    const ms = (raw: string) => Duration.toMillis(Either.getOrThrow(parseDuration(raw)))
    expect(ms("10 minutes")).toBe(600_000)
    expect(ms("600 seconds")).toBe(600_000)
    expect(ms("600s")).toBe(600_000)
    expect(ms("10m")).toBe(600_000)
    expect(ms("1h30m")).toBe(5_400_000)
    expect(ms("500ms")).toBe(500)
    expect(ms("1d")).toBe(86_400_000)
    expect(ms("1.5h")).toBe(5_400_000)
    for (const bad of ["600", "0s", "0 seconds", "-5 seconds", "soon", "10 parsecs", "5x"]) {
      expect(Either.isLeft(parseDuration(bad))).toBe(true)
    }
  })
})

describe("errors name the setting and what it expects", () => {
  const required = ["DB_USER", "DB_PASS", "IMAGE_NAME", "BROWSER_URL"] as const
  for (const name of required) {
    test(`${name} missing`, () => {
      const { [name]: _, ...env } = minimal
      const message = fails(env)
      expect(message).toStartWith(`Invalid configuration: ${name} is required: `)
      for (const other of required) if (other !== name) expect(message).not.toContain(other)
    })
  }

  test("all required settings missing: one message naming each", () => {
    expect(fails({})).toBe(
      "Invalid configuration: " +
        "DB_USER is required: PostgreSQL user name (on Azure's managed PostgreSQL it looks like `guacamole@servername`); " +
        "DB_PASS is required: PostgreSQL password (never logged); " +
        "IMAGE_NAME is required: Image of the browser container (Firefox in a VNC server); " +
        "BROWSER_URL is required: The http(s) URL the browser container opens (the private JupyterHub)"
    )
  })

  const cases: ReadonlyArray<readonly [string, string, string]> = [
    ["DB_PORT", "abc", 'DB_PORT must be a whole number from 1 to 65535 (got "abc")'],
    ["DB_PORT", "70000", 'DB_PORT must be a whole number from 1 to 65535 (got "70000")'],
    ["DB_PORT", "54.32", 'DB_PORT must be a whole number from 1 to 65535 (got "54.32")'],
    ["DB_HOST", "my host", 'DB_HOST must be a host name without spaces (got "my host")'],
    ["DB_SSLMODE", "verify-ca", 'DB_SSLMODE must be one of disable, prefer, require, verify-full (got "verify-ca")'],
    ["DB_POOL_MAX", "0", 'DB_POOL_MAX must be a whole number from 1 to 100 (got "0")'],
    ["IMAGE_NAME", "my image", 'IMAGE_NAME must be a container image reference without spaces (got "my image")'],
    ["BROWSER_URL", "jupyter.example.org", 'BROWSER_URL must be an http:// or https:// URL (got "jupyter.example.org")'],
    ["BROWSER_URL", "ftp://example.org/", 'BROWSER_URL must be an http:// or https:// URL (got "ftp://example.org/")'],
    ["NAMESPACE", "Guacamole", "NAMESPACE must be a namespace name: at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit (got \"Guacamole\")"],
    ["WATCH_NAMESPACES", "a,B_c", 'WATCH_NAMESPACES must be namespace names separated by commas ("B_c" is not a valid namespace name)'],
    ["LOG_LEVEL", "verbose", 'LOG_LEVEL must be one of trace, debug, info, warning, error (got "verbose")'],
    ["LOG_FORMAT", "text", 'LOG_FORMAT must be one of json, pretty (got "text")'],
    ["MAX_CONCURRENT_RECONCILES", "0", 'MAX_CONCURRENT_RECONCILES must be a whole number from 1 to 256 (got "0")'],
    ["MAX_CONCURRENT_RECONCILES", "257", 'MAX_CONCURRENT_RECONCILES must be a whole number from 1 to 256 (got "257")'],
    ["HTTP_PORT", "-1", 'HTTP_PORT must be a whole number from 0 to 65535 (got "-1")'],
    ["RESYNC_INTERVAL", "600", 'RESYNC_INTERVAL must be a positive duration such as "10 minutes", "90s" or "1h30m" (got "600")'],
    ["WATCH_TIMEOUT_SECONDS", "0", 'WATCH_TIMEOUT_SECONDS must be a whole number from 1 to 86400 (got "0")'],
    ["WATCH_IDLE_TIMEOUT", "0s", 'WATCH_IDLE_TIMEOUT must be a positive duration such as "10 minutes", "90s" or "1h30m" (got "0s")'],
    ["LEADER_ELECTION", "maybe", 'LEADER_ELECTION must be true or false (got "maybe")']
  ]
  for (const [name, value, expected] of cases) {
    test(`${name}=${value}`, () => {
      expect(fails({ ...minimal, [name]: value })).toBe(`Invalid configuration: ${expected}`)
    })
  }

  test("several invalid settings are reported together, in one message", () => {
    expect(fails({ ...minimal, DB_PORT: "x", LOG_FORMAT: "text" })).toBe(
      'Invalid configuration: DB_PORT must be a whole number from 1 to 65535 (got "x"); LOG_FORMAT must be one of json, pretty (got "text")'
    )
  })

  test("a very long bad value is shortened", () => {
    expect(fails({ ...minimal, BROWSER_URL: "x".repeat(1000) }).length).toBeLessThan(200)
  })
})

describe("the password never shows", () => {
  test("not in String(), JSON or inspection of the configuration", () => {
    const c = ok(minimal)
    expect(String(c)).not.toContain(SECRET)
    expect(JSON.stringify(c)).not.toContain(SECRET)
    expect(JSON.stringify(c.db)).toContain('"password":"<redacted>"')
    expect(String(c.db.password)).not.toContain(SECRET)
    expect(Bun.inspect(c)).not.toContain(SECRET)
  })

  test("not in any error, whatever else is wrong", () => {
    for (const env of [
      { ...minimal, DB_USER: "" },
      { ...minimal, DB_PORT: "nope", BROWSER_URL: "nope" },
      { DB_PASS: SECRET }
    ]) {
      fails(env) // asserts the message does not contain the password
    }
  })
})

describe("settingsTable", () => {
  /** Runs operatorConfig with a provider that records every variable it is asked for. */
  const keysRead = (env: Record<string, string>): Set<string> => {
    const inner = ConfigProvider.fromMap(new Map(Object.entries(env)))
    const keys = new Set<string>()
    const recording = ConfigProvider.fromFlat(
      ConfigProvider.makeFlat({
        load: (path, primitive, split) => {
          keys.add(path.join("_"))
          return inner.flattened.load(path, primitive, split)
        },
        enumerateChildren: (path) => inner.flattened.enumerateChildren(path),
        patch: inner.flattened.patch
      })
    )
    Effect.runSync(Effect.either(Effect.withConfigProvider(operatorConfig, recording)))
    return keys
  }

  test("lists exactly the variables operatorConfig reads", () => {
    const read = keysRead(minimal)
    expect(read.size).toBeGreaterThanOrEqual(20)
    expect([...read].sort()).toEqual(settingsTable.map((s) => s.name).sort())
    // Also when the configuration is invalid, nothing else is asked for.
    expect([...keysRead({})].sort()).toEqual([...read].sort())
  })

  test("each setting has a name, a default and a meaning; required ones say so", () => {
    const names = settingsTable.map((s) => s.name)
    expect(new Set(names).size).toBe(names.length)
    for (const s of settingsTable) {
      expect(s.name).toMatch(/^[A-Z][A-Z0-9_]*$/)
      expect(s.default.length).toBeGreaterThan(0)
      expect(s.meaning.length).toBeGreaterThan(10)
    }
    expect(settingsTable.filter((s) => s.default === "(required)").map((s) => s.name).sort()).toEqual(
      ["BROWSER_URL", "DB_PASS", "DB_USER", "IMAGE_NAME"]
    )
  })
})

describe("the browser pod and idle settings", () => {
  test("are read, quantities canonicalised as the API server stores them", () => {
    const c = ok({
      ...minimal,
      BROWSER_RUN_AS_USER: "1000",
      BROWSER_RUN_AS_GROUP: "1000",
      BROWSER_FS_GROUP: "2000",
      BROWSER_RUN_AS_NON_ROOT: "true",
      BROWSER_READ_ONLY_ROOT_FILESYSTEM: "yes",
      BROWSER_WRITABLE_PATHS: "/home/researcher, /tmp",
      BROWSER_RESOURCES: '{"requests":{"cpu":0.5,"memory":"1024Mi"},"limits":{"memory":"1.5Gi"}}',
      BROWSER_NODE_SELECTOR: '{"agentpool":"browsers"}',
      BROWSER_TOLERATIONS: '[{"key":"browsers","operator":"Exists","effect":"NoSchedule"}]',
      BROWSER_IDLE_TIMEOUT: "30m",
      BROWSER_IDLE_CHECK_INTERVAL: "1 minute",
      BROWSER_IDLE_GRACE_PERIOD: "10m",
      BROWSER_MAX_AGE: "12h",
    })
    expect(c.workload.pod).toEqual({
      runAsUser: 1000,
      runAsGroup: 1000,
      fsGroup: 2000,
      runAsNonRoot: true,
      readOnlyRootFilesystem: true,
      writablePaths: ["/home/researcher", "/tmp"],
      resources: { requests: { cpu: "500m", memory: "1Gi" }, limits: { memory: "1536Mi" } },
      nodeSelector: { agentpool: "browsers" },
      tolerations: [{ key: "browsers", operator: "Exists", effect: "NoSchedule" }],
    })
    expect(Duration.toMillis(c.idle.timeout!)).toBe(1_800_000)
    expect(Duration.toMillis(c.idle.checkInterval)).toBe(60_000)
    expect(Duration.toMillis(c.idle.gracePeriod)).toBe(600_000)
    expect(Duration.toMillis(c.idle.maxAge!)).toBe(43_200_000)
  })

  test.each([
    [{ BROWSER_RESOURCES: "cpu=1" }, "BROWSER_RESOURCES must be JSON such as"],
    [{ BROWSER_RESOURCES: '{"limits":{"memory":"lots"}}' }, 'BROWSER_RESOURCES limits.memory must be a non-negative Kubernetes quantity such as "500m", "2" or "4Gi" (got "lots")'],
    [{ BROWSER_RESOURCES: '{"requests":{"memory":"2Gi"},"limits":{"memory":"1Gi"}}' }, "BROWSER_RESOURCES requests.memory must be at most its limit 1Gi (got 2Gi)"],
    [{ BROWSER_RESOURCES: '{"request":{"cpu":"1"}}' }, "BROWSER_RESOURCES request"],
    [{ BROWSER_NODE_SELECTOR: '{"pool":"has space"}' }, 'BROWSER_NODE_SELECTOR pool is not a label value (got "has space")'],
    [{ BROWSER_TOLERATIONS: '[{"operator":"Equal","value":"x"}]' }, 'BROWSER_TOLERATIONS [0] must have operator "Exists" when it has no key'],
    [{ BROWSER_TOLERATIONS: '[{"key":"k","tolerationSeconds":30}]' }, 'BROWSER_TOLERATIONS [0] may have tolerationSeconds only with effect "NoExecute"'],
    [{ BROWSER_RUN_AS_USER: "0", BROWSER_RUN_AS_NON_ROOT: "true" }, "BROWSER_RUN_AS_USER must not be 0 when BROWSER_RUN_AS_NON_ROOT is true"],
    [{ BROWSER_RUN_AS_USER: "-5" }, "BROWSER_RUN_AS_USER must be a whole number from 0 to 2147483647"],
    [{ BROWSER_WRITABLE_PATHS: "home" }, 'BROWSER_WRITABLE_PATHS must be absolute paths separated by commas (got "home")'],
    [{ BROWSER_IDLE_TIMEOUT: "soon" }, "BROWSER_IDLE_TIMEOUT must be a positive duration"],
  ])("%p is refused at start-up: %p", (env, expected) => {
    expect(fails({ ...minimal, ...env })).toContain(expected)
  })
})
