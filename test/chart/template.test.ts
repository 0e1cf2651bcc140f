/**
 * What `helm template` renders from the chart, as a user would notice it: the Deployment's image,
 * environment, securityContext and probes, the RBAC, the selectors, the ConfigMap, and which value
 * wins when two name the same setting.
 */
import { describe, expect, test } from "bun:test"
import { helm, helmMissingReason, minimalValues, render, renderError, RELEASE, RELEASE_NAMESPACE } from "./helm.ts"

const describeWithHelm = helm ? describe : describe.skip
if (!helm) console.warn(`skipped: ${helmMissingReason}`)

const value = (r: ReturnType<typeof render>, name: string) => r.env.get(name)?.value

describeWithHelm("the chart with its defaults", () => {
  test("refuses to render without the JupyterHub URL, saying which value to set", () => {
    expect(renderError([])).toContain("browser.url (the http(s) URL of your JupyterHub, or an env entry BROWSER_URL)")
  })

  test("renders the release-named objects in the release's namespace and the browser objects in their own namespace", () => {
    const r = render([minimalValues])
    const names = r.objects.map((o) => `${o.kind} ${o.metadata.namespace ?? "-"}/${o.metadata.name}`).sort()
    expect(names).toEqual(
      [
        `ClusterRole -/${RELEASE}`,
        `ClusterRoleBinding -/${RELEASE}`,
        "ConfigMap guacamole-browsers/firefox-config",
        "CustomResourceDefinition -/analyticsworkspacebindings.xlscsde.nhs.uk",
        `Deployment ${RELEASE_NAMESPACE}/${RELEASE}`,
        "Namespace -/guacamole-browsers",
        `NetworkPolicy guacamole-browsers/${RELEASE}-browsers`,
        `PodDisruptionBudget ${RELEASE_NAMESPACE}/${RELEASE}`,
        `Role guacamole-browsers/${RELEASE}`,
        `RoleBinding guacamole-browsers/${RELEASE}`,
        `Service ${RELEASE_NAMESPACE}/${RELEASE}-metrics`,
        `ServiceAccount ${RELEASE_NAMESPACE}/${RELEASE}`,
      ].sort(),
    )
    // Kept on uninstall: deleting them would delete every binding, or every browser.
    expect(r.find("CustomResourceDefinition").metadata.annotations["helm.sh/resource-policy"]).toBe("keep")
    expect(r.find("Namespace").metadata.annotations["helm.sh/resource-policy"]).toBe("keep")
  })

  test("the operator runs as the original chart's container, non-root, read-only, with its probes", () => {
    const r = render([minimalValues])
    const deployment = r.find("Deployment")
    expect(deployment.spec.selector).toEqual({ matchLabels: { app: RELEASE } })
    expect(deployment.spec.template.metadata.labels.app).toBe(RELEASE)
    expect(deployment.spec.replicas).toBe(1)
    expect(deployment.spec.strategy.type).toBe("Recreate")
    const pod = deployment.spec.template.spec
    expect(pod.serviceAccountName).toBe(RELEASE)
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 65532, seccompProfile: { type: "RuntimeDefault" } })
    expect(r.container.image).toBe("awms-guacamole-operator:0.1.0")
    expect(r.container.args).toEqual(["run"])
    expect(r.container.securityContext).toEqual({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ["ALL"] },
    })
    expect(r.container.livenessProbe.httpGet).toEqual({ path: "/healthz", port: "http" })
    expect(r.container.readinessProbe.httpGet).toEqual({ path: "/readyz", port: "http" })
    expect(r.container.ports).toEqual([{ name: "http", containerPort: 8080 }])
  })

  test("the environment holds the structured values' settings, the password from the Secret", () => {
    const r = render([minimalValues])
    expect(Object.fromEntries([...r.env].map(([k, e]) => [k, e.value ?? e.valueFrom]))).toEqual({
      NAMESPACE: "guacamole-browsers",
      IMAGE_NAME: "lscsde/analytics-vnc-client:0.1.5",
      BROWSER_URL: "https://jupyter.example.org",
      DB_HOST: "guacamole-postgresql",
      DB_PORT: "5432",
      DB_NAME: "guacamole",
      DB_USER: "guacamole",
      DB_SSLMODE: "prefer",
      LEADER_ELECTION: "false",
      POD_NAME: { fieldRef: { fieldPath: "metadata.name" } },
      DB_PASS: { secretKeyRef: { name: "awms-guacamole-operator-db", key: "password" } },
    })
  })

  test("the NetworkPolicy lets only guacd (its pods in its namespace) reach the browsers' VNC port, and the browsers only DNS and JupyterHub", () => {
    const np = render([minimalValues]).find("NetworkPolicy")
    expect(np.spec.podSelector).toEqual({ matchLabels: { "xlscsde.nhs.uk/purpose": "workspace-client" } })
    expect(np.spec.policyTypes).toEqual(["Ingress", "Egress"])
    expect(np.spec.ingress).toEqual([
      {
        from: [
          {
            podSelector: { matchLabels: { "app.kubernetes.io/component": "guacd" } },
            namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "guacamole" } },
          },
        ],
        ports: [{ protocol: "TCP", port: 5900 }],
      },
    ])
    expect(np.spec.egress).toEqual([
      {
        to: [{ podSelector: { matchLabels: { "k8s-app": "kube-dns" } }, namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "kube-system" } } }],
        ports: [{ port: 53, protocol: "UDP" }, { port: 53, protocol: "TCP" }],
      },
      {
        to: [{ podSelector: { matchLabels: { app: "jupyterhub", component: "proxy" } }, namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "jupyterhub" } } }],
        ports: [{ port: 8000, protocol: "TCP" }],
      },
    ])
  })

  test("firefox-config has the original's keys, opens JupyterHub and turns off what would let data out", () => {
    const cm = render([minimalValues]).find("ConfigMap", "firefox-config")
    expect(Object.keys(cm.data).sort()).toEqual(["distribution.ini", "policies.json"])
    expect(cm.data["distribution.ini"]).toContain("[Global]")
    const { policies } = JSON.parse(cm.data["policies.json"])
    expect(policies.Homepage).toEqual({ URL: "https://jupyter.example.org", Locked: true, StartPage: "homepage-locked" })
    expect(policies).toMatchObject({
      DisableTelemetry: true,
      DisableAppUpdate: true,
      AppAutoUpdate: false,
      PasswordManagerEnabled: false,
      OfferToSaveLogins: false,
      DisableDeveloperTools: true,
      DisablePrivateBrowsing: true,
      DisableFirefoxAccounts: true,
      PrintingEnabled: false,
      BlockAboutConfig: true,
      ExtensionSettings: { "*": { installation_mode: "blocked" } },
      Certificates: { Install: ["/usr/lib/firefox/distribution/certs/enterprise.crt"] },
    })
    expect(policies.WebsiteFilter.Block).toContain("file:///*")
    expect(policies.Preferences["dom.event.clipboardevents.enabled"]).toEqual({ Value: false, Status: "locked" })
  })
})

describeWithHelm("each structured value", () => {
  test("image: a map with tag, pull policy and pull secrets, or one repository:tag string as the original took it", () => {
    const map = render([minimalValues, { image: { repository: "registry.example/ops/awms", tag: "1.2.3", pullPolicy: "Always", pullSecrets: ["regcred"] } }])
    expect(map.container.image).toBe("registry.example/ops/awms:1.2.3")
    expect(map.container.imagePullPolicy).toBe("Always")
    expect(map.find("Deployment").spec.template.spec.imagePullSecrets).toEqual([{ name: "regcred" }])
    const string = render([minimalValues, { image: "lscsde/awms-guacamole-operator:0.2.0" }])
    expect(string.container.image).toBe("lscsde/awms-guacamole-operator:0.2.0")
    expect(string.find("Deployment").spec.template.spec.imagePullSecrets).toBeUndefined()
  })

  test("database: host, port, name, user, sslmode and the password's Secret", () => {
    const r = render([
      minimalValues,
      { database: { host: "pg.example", port: 6432, name: "guac", user: "guacamole@pg", sslmode: "verify-full", existingSecret: { name: "pg", key: "pw" } } },
    ])
    expect([value(r, "DB_HOST"), value(r, "DB_PORT"), value(r, "DB_NAME"), value(r, "DB_USER"), value(r, "DB_SSLMODE")]).toEqual([
      "pg.example",
      "6432",
      "guac",
      "guacamole@pg",
      "verify-full",
    ])
    expect(r.env.get("DB_PASS").valueFrom).toEqual({ secretKeyRef: { name: "pg", key: "pw" } })
  })

  test("browser: image, URL and namespace move the operator's Role, firefox-config and the NetworkPolicy with them", () => {
    const r = render([{ browser: { image: "example/firefox-vnc:2", url: "https://hub.example/", namespace: "researchers" } }])
    expect([value(r, "IMAGE_NAME"), value(r, "BROWSER_URL"), value(r, "NAMESPACE")]).toEqual(["example/firefox-vnc:2", "https://hub.example/", "researchers"])
    for (const kind of ["Role", "RoleBinding", "ConfigMap", "NetworkPolicy"]) expect(r.find(kind).metadata.namespace).toBe("researchers")
    expect(r.find("Namespace").metadata.name).toBe("researchers")
    expect(JSON.parse(r.find("ConfigMap").data["policies.json"]).policies.Homepage.URL).toBe("https://hub.example/")
    expect(r.find("RoleBinding").subjects).toEqual([{ kind: "ServiceAccount", name: RELEASE, namespace: RELEASE_NAMESPACE }])
  })

  test("browser namespace = the release's: no Namespace object; createNamespace false: none either", () => {
    expect(render([{ browser: { url: "https://hub.example/", namespace: RELEASE_NAMESPACE } }]).find("Namespace")).toBeUndefined()
    expect(render([minimalValues, { browser: { createNamespace: false } }]).find("Namespace")).toBeUndefined()
  })

  test("browser resources, security settings, idle culling, nodeSelector and tolerations reach the operator's settings", () => {
    const browser = {
      resources: { requests: { cpu: "250m", memory: "512Mi" }, limits: { memory: "1Gi" } },
      securityContext: { runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000, fsGroup: 1000, readOnlyRootFilesystem: true },
      writablePaths: ["/home/browser", "/tmp"],
      idle: { timeout: "2h", maxAge: "12h" },
      nodeSelector: { pool: "browsers" },
      tolerations: [{ key: "browsers", operator: "Exists", effect: "NoSchedule" }],
    }
    const r = render([minimalValues, { browser }])
    expect(JSON.parse(value(r, "BROWSER_RESOURCES"))).toEqual(browser.resources)
    expect(value(r, "BROWSER_RUN_AS_NON_ROOT")).toBe("true")
    expect(value(r, "BROWSER_RUN_AS_USER")).toBe("1000")
    expect(value(r, "BROWSER_RUN_AS_GROUP")).toBe("1000")
    expect(value(r, "BROWSER_FS_GROUP")).toBe("1000")
    expect(value(r, "BROWSER_READ_ONLY_ROOT_FILESYSTEM")).toBe("true")
    expect(value(r, "BROWSER_WRITABLE_PATHS")).toBe("/home/browser,/tmp")
    expect(value(r, "BROWSER_IDLE_TIMEOUT")).toBe("2h")
    expect(value(r, "BROWSER_MAX_AGE")).toBe("12h")
    expect(JSON.parse(value(r, "BROWSER_NODE_SELECTOR"))).toEqual(browser.nodeSelector)
    expect(JSON.parse(value(r, "BROWSER_TOLERATIONS"))).toEqual(browser.tolerations)
    // Unset, they are not rendered: the operator's defaults apply.
    expect([...render([minimalValues]).env.keys()].filter((k) => k.startsWith("BROWSER_") && k !== "BROWSER_URL")).toEqual([])
  })

  test("leader election: on by itself above one replica, with a rolling update; off with one; several replicas without it refused", () => {
    const three = render([minimalValues, { replicas: 3 }])
    expect(three.find("Deployment").spec.replicas).toBe(3)
    expect(value(three, "LEADER_ELECTION")).toBe("true")
    expect(three.find("Deployment").spec.strategy).toEqual({ type: "RollingUpdate" })
    expect(value(render([minimalValues, { leaderElection: true }]), "LEADER_ELECTION")).toBe("true")
    expect(renderError([minimalValues, { replicas: 2, leaderElection: false }])).toContain("replicas is 2 but leader election is off")
    expect(renderError([minimalValues, { replicas: 2, env: [{ name: "LEADER_ELECTION", value: "false" }] }])).toContain("leader election is off")
  })

  test("networkPolicy: guacd's selectors, JupyterHub's, extra egress, egress off, all off", () => {
    const r = render([
      minimalValues,
      {
        networkPolicy: {
          guacd: { podSelector: { "app.kubernetes.io/name": "guacamole-guacd" }, namespaceSelector: { team: "remote-access" } },
          egress: {
            jupyterhub: { namespaceSelector: { "kubernetes.io/metadata.name": "ingress" }, podSelector: { app: "ingress-nginx" }, ports: [{ port: 443, protocol: "TCP" }] },
            extra: [{ to: [{ ipBlock: { cidr: "10.20.0.4/32" } }], ports: [{ port: 443, protocol: "TCP" }] }],
          },
        },
      },
    ])
    const np = r.find("NetworkPolicy")
    expect(np.spec.ingress[0].from).toEqual([
      { podSelector: { matchLabels: { "app.kubernetes.io/name": "guacamole-guacd" } }, namespaceSelector: { matchLabels: { team: "remote-access" } } },
    ])
    expect(np.spec.egress[1].to[0].podSelector).toEqual({ matchLabels: { app: "ingress-nginx" } })
    expect(np.spec.egress[2]).toEqual({ to: [{ ipBlock: { cidr: "10.20.0.4/32" } }], ports: [{ port: 443, protocol: "TCP" }] })
    const ingressOnly = render([minimalValues, { networkPolicy: { egress: { enabled: false } } }]).find("NetworkPolicy")
    expect(ingressOnly.spec.policyTypes).toEqual(["Ingress"])
    expect(ingressOnly.spec.egress).toBeUndefined()
    expect(render([minimalValues, { networkPolicy: { enabled: false } }]).find("NetworkPolicy")).toBeUndefined()
  })

  test("metrics: the Service selects the operator's pods; the ServiceMonitor scrapes it when asked", () => {
    const r = render([minimalValues, { metrics: { serviceMonitor: { enabled: true, labels: { release: "prometheus" } } } }])
    const service = r.find("Service")
    expect(service.spec.selector).toEqual({ app: RELEASE })
    expect(service.spec.ports).toEqual([{ name: "http-metrics", port: 8080, targetPort: "http", protocol: "TCP" }])
    const monitor = r.find("ServiceMonitor")
    expect(monitor.metadata.labels.release).toBe("prometheus")
    expect(monitor.spec.endpoints).toEqual([{ port: "http-metrics", path: "/metrics", interval: "30s" }])
    for (const [k, v] of Object.entries(monitor.spec.selector.matchLabels)) expect(service.metadata.labels[k]).toBe(v)
    expect(render([minimalValues]).find("ServiceMonitor")).toBeUndefined()
    expect(render([minimalValues, { metrics: { service: { enabled: false } } }]).find("Service")).toBeUndefined()
  })

  test("podDisruptionBudget: maxUnavailable, minAvailable, or none", () => {
    expect(render([minimalValues]).find("PodDisruptionBudget").spec).toEqual({ maxUnavailable: 1, selector: { matchLabels: { app: RELEASE } } })
    expect(render([minimalValues, { podDisruptionBudget: { minAvailable: 1 } }]).find("PodDisruptionBudget").spec.minAvailable).toBe(1)
    expect(render([minimalValues, { podDisruptionBudget: { enabled: false } }]).find("PodDisruptionBudget")).toBeUndefined()
  })

  test("crds.install false and firefoxConfig.create false leave them out", () => {
    const r = render([minimalValues, { crds: { install: false }, firefoxConfig: { create: false } }])
    expect(r.find("CustomResourceDefinition")).toBeUndefined()
    expect(r.find("ConfigMap")).toBeUndefined()
  })

  test("firefoxConfig.extraPolicies add to and replace the chart's policies", () => {
    const cm = render([minimalValues, { firefoxConfig: { extraPolicies: { PrintingEnabled: true, SearchEngines: { Default: "DuckDuckGo" } } } }]).find("ConfigMap")
    const { policies } = JSON.parse(cm.data["policies.json"])
    expect(policies.PrintingEnabled).toBe(true)
    expect(policies.SearchEngines).toEqual({ Default: "DuckDuckGo" })
    expect(policies.DisableTelemetry).toBe(true)
  })

  test("the operator pod's securityContext, probes, resources, placement, annotations, volumes and ServiceAccount annotations", () => {
    const r = render([
      minimalValues,
      {
        podSecurityContext: { runAsNonRoot: true, runAsUser: 10001, fsGroup: 10001 },
        securityContext: { readOnlyRootFilesystem: true },
        readinessProbe: { httpGet: { path: "/readyz", port: "http" }, periodSeconds: 3 },
        resources: { limits: { memory: "512Mi" } },
        nodeSelector: { pool: "system" },
        tolerations: [{ key: "system", operator: "Exists" }],
        podAnnotations: { "example.org/scrape": "true" },
        priorityClassName: "system-cluster-critical",
        serviceAccount: { annotations: { "azure.workload.identity/client-id": "00000000-0000-0000-0000-000000000000" } },
        volumes: [{ name: "ca", configMap: { name: "db-ca" } }],
        volumeMounts: [{ name: "ca", mountPath: "/etc/ssl/db", readOnly: true }],
      },
    ])
    expect(r.find("Deployment").spec.template.spec.volumes).toEqual([{ name: "ca", configMap: { name: "db-ca" } }])
    expect(r.container.volumeMounts).toEqual([{ name: "ca", mountPath: "/etc/ssl/db", readOnly: true }])
    const pod = r.find("Deployment").spec.template
    expect(pod.spec.securityContext).toEqual({ runAsNonRoot: true, runAsUser: 10001, runAsGroup: 65532, fsGroup: 10001, seccompProfile: { type: "RuntimeDefault" } })
    expect(r.container.readinessProbe.periodSeconds).toBe(3)
    expect(r.container.resources.limits).toEqual({ memory: "512Mi" })
    expect(pod.spec.nodeSelector).toEqual({ pool: "system" })
    expect(pod.spec.tolerations).toEqual([{ key: "system", operator: "Exists" }])
    expect(pod.metadata.annotations).toEqual({ "example.org/scrape": "true" })
    expect(pod.spec.priorityClassName).toBe("system-cluster-critical")
    expect(r.find("ServiceAccount").metadata.annotations["azure.workload.identity/client-id"]).toBeDefined()
  })
})

describeWithHelm("an env entry and a structured value naming the same setting", () => {
  test("the env entry wins and is the only one rendered", () => {
    const r = render([
      minimalValues,
      {
        database: { host: "from-values" },
        env: [
          { name: "DB_HOST", value: "from-env" },
          { name: "BROWSER_URL", value: "https://from-env.example/" },
          { name: "LOG_LEVEL", value: "debug" },
        ],
      },
    ])
    const names = r.container.env.map((e: any) => e.name)
    expect(names.filter((n: string) => n === "DB_HOST")).toHaveLength(1)
    expect(names.filter((n: string) => n === "BROWSER_URL")).toHaveLength(1)
    expect(value(r, "DB_HOST")).toBe("from-env")
    expect(value(r, "LOG_LEVEL")).toBe("debug")
    // …and the objects that follow the setting follow the env entry.
    expect(JSON.parse(r.find("ConfigMap").data["policies.json"]).policies.Homepage.URL).toBe("https://from-env.example/")
  })

  test("an env NAMESPACE moves the Role there and creates no Namespace (it must exist); the pod's own namespace through fieldRef works too", () => {
    const byValue = render([minimalValues, { env: [{ name: "NAMESPACE", value: "guacamole" }] }])
    expect(byValue.find("Role").metadata.namespace).toBe("guacamole")
    expect(byValue.find("Namespace")).toBeUndefined()
    const byFieldRef = render([minimalValues, { env: [{ name: "NAMESPACE", valueFrom: { fieldRef: { fieldPath: "metadata.namespace" } } }] }])
    expect(byFieldRef.find("Role").metadata.namespace).toBe(RELEASE_NAMESPACE)
    expect(renderError([minimalValues, { env: [{ name: "NAMESPACE", valueFrom: { configMapKeyRef: { name: "x", key: "y" } } }] }])).toContain(
      "env NAMESPACE must be a value",
    )
  })
})
