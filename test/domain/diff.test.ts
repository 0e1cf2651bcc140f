import { describe, expect, test } from "bun:test"
import { desiredDeployment, desiredSecret, desiredService } from "../../src/domain/desired.ts"
import { mergePatchFor, withoutTypeMeta } from "../../src/domain/diff.ts"
import { bindingOf, DEPLOYMENT, settings } from "./fixtures.ts"

const clone = <T>(x: T): T => structuredClone(x)

/** The Deployment as a LIST or WATCH returns it after creation: defaults, status and server metadata. */
const observedDeployment = (replicas = 1) => ({
  metadata: {
    name: DEPLOYMENT,
    namespace: "guacamole",
    uid: "5f0c2b8e-aaaa-bbbb-cccc-000000000001",
    resourceVersion: "48213",
    generation: 2,
    creationTimestamp: "2026-11-20T10:00:00Z",
    labels: {
      "xlscsde.nhs.uk/purpose": "workspace-client",
      "xlscsde.nhs.uk/deployment-name": DEPLOYMENT,
      "app.kubernetes.io/managed-by": "awms-guacamole-operator",
      "xlscsde.nhs.uk/binding-namespace": "jupyterhub",
      "xlscsde.nhs.uk/binding-name": "alice-ws1"
    },
    annotations: {
      "deployment.kubernetes.io/revision": "1",
      "xlscsde.nhs.uk/binding": "jupyterhub/alice-ws1",
      "xlscsde.nhs.uk/workspace": "ws1",
      "xlscsde.nhs.uk/username": "alice"
    },
    managedFields: [{ manager: "awms-guacamole-operator", operation: "Update", apiVersion: "apps/v1" }]
  },
  spec: {
    replicas,
    selector: { matchLabels: { "xlscsde.nhs.uk/deployment-name": DEPLOYMENT } },
    template: {
      metadata: {
        creationTimestamp: null,
        labels: { "xlscsde.nhs.uk/purpose": "workspace-client", "xlscsde.nhs.uk/deployment-name": DEPLOYMENT },
        annotations: { "xlscsde.nhs.uk/workspace": "ws1", "xlscsde.nhs.uk/username": "alice" }
      },
      spec: {
        containers: [
          {
            name: DEPLOYMENT,
            image: "lscsde/browser:1.2.3",
            ports: [{ name: "vnc", containerPort: 5900, protocol: "TCP" }],
            env: [
              { name: "BROWSER_URL", value: "https://jupyter.example.org/" },
              {
                name: "VNC_PASSWORD",
                valueFrom: { secretKeyRef: { name: `client-${DEPLOYMENT}-vnc`, key: "password" } }
              }
            ],
            resources: {},
            securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] }, readOnlyRootFilesystem: false },
            volumeMounts: [
              { name: "firefox-config", readOnly: true, mountPath: "/usr/lib/firefox/distribution" },
              {
                name: "xlscsde-enterprise-certificate",
                readOnly: true,
                mountPath: "/usr/lib/firefox/distribution/certs"
              }
            ],
            terminationMessagePath: "/dev/termination-log",
            terminationMessagePolicy: "File",
            imagePullPolicy: "IfNotPresent"
          }
        ],
        volumes: [
          { name: "firefox-config", configMap: { name: "firefox-config", defaultMode: 420 } },
          {
            name: "xlscsde-enterprise-certificate",
            configMap: { name: "xlscsde-enterprise-certificate", defaultMode: 420 }
          }
        ],
        restartPolicy: "Always",
        terminationGracePeriodSeconds: 30,
        dnsPolicy: "ClusterFirst",
        securityContext: { seccompProfile: { type: "RuntimeDefault" } },
        automountServiceAccountToken: false,
        enableServiceLinks: false,
        schedulerName: "default-scheduler"
      }
    },
    strategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: "25%", maxSurge: "25%" } },
    revisionHistoryLimit: 10,
    progressDeadlineSeconds: 600
  },
  status: {
    observedGeneration: 2,
    replicas,
    updatedReplicas: replicas,
    readyReplicas: replicas,
    availableReplicas: replicas,
    conditions: [{ type: "Available", status: "True" }]
  }
})

const observedService = () => ({
  metadata: {
    name: `client-${DEPLOYMENT}`,
    namespace: "guacamole",
    uid: "5f0c2b8e-aaaa-bbbb-cccc-000000000002",
    resourceVersion: "48100",
    creationTimestamp: "2026-11-20T10:00:00Z",
    labels: {
      "xlscsde.nhs.uk/purpose": "workspace-client",
      "xlscsde.nhs.uk/deployment-name": DEPLOYMENT,
      "app.kubernetes.io/managed-by": "awms-guacamole-operator",
      "xlscsde.nhs.uk/binding-namespace": "jupyterhub",
      "xlscsde.nhs.uk/binding-name": "alice-ws1"
    },
    annotations: {
      "xlscsde.nhs.uk/binding": "jupyterhub/alice-ws1",
      "xlscsde.nhs.uk/workspace": "ws1",
      "xlscsde.nhs.uk/username": "alice"
    }
  },
  spec: {
    ports: [{ name: "vnc", protocol: "TCP", port: 5900, targetPort: 5900 }],
    selector: { "xlscsde.nhs.uk/deployment-name": DEPLOYMENT },
    clusterIP: "None",
    clusterIPs: ["None"],
    type: "ClusterIP",
    sessionAffinity: "None",
    ipFamilies: ["IPv4"],
    ipFamilyPolicy: "SingleStack",
    internalTrafficPolicy: "Cluster"
  },
  status: { loadBalancer: {} }
})

const b = bindingOf()

describe("mergePatchFor against objects as the API server returns them", () => {
  test("a defaulted Deployment, Service and Secret need no patch", () => {
    expect(mergePatchFor(withoutTypeMeta(desiredDeployment(b, DEPLOYMENT, 1, settings)), observedDeployment())).toBeUndefined()
    expect(mergePatchFor(withoutTypeMeta(desiredService(b, DEPLOYMENT, settings)), observedService())).toBeUndefined()
    const secret = desiredSecret(b, DEPLOYMENT, "Ab3-_xYz", settings)
    const observedSecret = { ...clone(secret), metadata: { ...clone(secret.metadata), uid: "u", resourceVersion: "1" } }
    expect(mergePatchFor(secret, observedSecret)).toBeUndefined()
  })

  test("apiVersion and kind count when the observed object lacks them, unless left out", () => {
    expect(mergePatchFor(desiredService(b, DEPLOYMENT, settings), observedService())).toEqual({
      apiVersion: "v1",
      kind: "Service"
    })
  })

  test("a changed replicas gives exactly {spec:{replicas:n}}", () => {
    const desired = withoutTypeMeta(desiredDeployment(b, DEPLOYMENT, 0, settings))
    expect(mergePatchFor(desired, observedDeployment(1))).toEqual({ spec: { replicas: 0 } })
  })

  test("a changed image gives the whole containers array (lists are replaced, not merged)", () => {
    const desired = withoutTypeMeta(desiredDeployment(b, DEPLOYMENT, 1, { ...settings, imageName: "lscsde/browser:2.0.0" }))
    expect(mergePatchFor(desired, observedDeployment())).toEqual({
      spec: { template: { spec: { containers: desired.spec.template.spec.containers } } }
    })
  })

  test("a changed or missing label gives only that label; labels others added are left alone", () => {
    const observed = observedService()
    observed.metadata.labels["xlscsde.nhs.uk/purpose"] = "something-else"
    ;(observed.metadata.labels as Record<string, string>)["team"] = "theirs"
    const desired = withoutTypeMeta(desiredService(b, DEPLOYMENT, settings))
    expect(mergePatchFor(desired, observed)).toEqual({
      metadata: { labels: { "xlscsde.nhs.uk/purpose": "workspace-client" } }
    })
    delete (observed.metadata.labels as Record<string, string | undefined>)["xlscsde.nhs.uk/purpose"]
    expect(mergePatchFor(desired, observed)).toEqual({
      metadata: { labels: { "xlscsde.nhs.uk/purpose": "workspace-client" } }
    })
  })

  test("objects made by the original operator get the mapping labels and annotation added", () => {
    const observed = observedService()
    observed.metadata.labels = { "xlscsde.nhs.uk/purpose": "workspace-client" } as typeof observed.metadata.labels
    observed.metadata.annotations = { "xlscsde.nhs.uk/workspace": "ws1", "xlscsde.nhs.uk/username": "alice" } as typeof observed.metadata.annotations
    expect(mergePatchFor(withoutTypeMeta(desiredService(b, DEPLOYMENT, settings)), observed)).toEqual({
      metadata: {
        labels: {
          "xlscsde.nhs.uk/deployment-name": DEPLOYMENT,
          "app.kubernetes.io/managed-by": "awms-guacamole-operator",
          "xlscsde.nhs.uk/binding-namespace": "jupyterhub",
          "xlscsde.nhs.uk/binding-name": "alice-ws1"
        },
        annotations: { "xlscsde.nhs.uk/binding": "jupyterhub/alice-ws1" }
      }
    })
  })

  test("a Service port changed by hand gives the ports array", () => {
    const observed = observedService()
    observed.spec.ports = [{ name: "vnc", protocol: "TCP", port: 5901, targetPort: 5900 }]
    const desired = withoutTypeMeta(desiredService(b, DEPLOYMENT, settings))
    expect(mergePatchFor(desired, observed)).toEqual({ spec: { ports: desired.spec.ports } })
  })

  test("an extra element (say, an env var added by hand) makes the array differ", () => {
    const observed = observedDeployment()
    observed.spec.template.spec.containers[0]!.env.push({ name: "EXTRA", value: "x" })
    const patch = mergePatchFor(withoutTypeMeta(desiredDeployment(b, DEPLOYMENT, 1, settings)), observed)
    expect(Object.keys((patch as any).spec.template.spec)).toEqual(["containers"])
  })

  test("a changed Secret value gives only data.password", () => {
    const secret = withoutTypeMeta(desiredSecret(b, DEPLOYMENT, "newpass1", settings))
    const observed = clone(desiredSecret(b, DEPLOYMENT, "oldpass1", settings))
    expect(mergePatchFor(secret, observed)).toEqual({ data: { password: secret.data.password } })
  })
})

describe("mergePatchFor rules", () => {
  test("scalars compare strictly", () => {
    expect(mergePatchFor({ a: 1 }, { a: "1" })).toEqual({ a: 1 })
    expect(mergePatchFor({ a: false }, {})).toEqual({ a: false })
    expect(mergePatchFor({ a: 0 }, { a: 0 })).toBeUndefined()
  })

  test("null in desired removes the field, and is satisfied when it is absent", () => {
    expect(mergePatchFor({ a: null }, { a: 1 })).toEqual({ a: null })
    expect(mergePatchFor({ a: null }, {})).toBeUndefined()
    expect(mergePatchFor({ m: { a: null } }, { m: { a: "x", b: "y" } })).toEqual({ m: { a: null } })
  })

  test("undefined in desired is ignored", () => {
    expect(mergePatchFor({ a: undefined, b: 1 }, { a: 5, b: 1 })).toBeUndefined()
  })

  test("an object missing or of another type is set from the desired one", () => {
    expect(mergePatchFor({ m: { a: 1 } }, {})).toEqual({ m: { a: 1 } })
    expect(mergePatchFor({ m: { a: 1 } }, { m: "x" })).toEqual({ m: { a: 1 } })
    expect(mergePatchFor({ m: {} }, {})).toEqual({ m: {} })
    expect(mergePatchFor({ m: {} }, { m: { x: 1 } })).toBeUndefined()
  })

  test("arrays: element order and length matter, elements match as subsets", () => {
    expect(mergePatchFor({ l: [{ a: 1 }, { b: 2 }] }, { l: [{ a: 1, x: 0 }, { b: 2, y: 0 }] })).toBeUndefined()
    expect(mergePatchFor({ l: [{ a: 1 }, { b: 2 }] }, { l: [{ b: 2 }, { a: 1 }] })).toEqual({ l: [{ a: 1 }, { b: 2 }] })
    expect(mergePatchFor({ l: [1] }, { l: [1, 2] })).toEqual({ l: [1] })
    expect(mergePatchFor({ l: [[1, 2]] }, { l: [[1, 2]] })).toBeUndefined()
    expect(mergePatchFor({ l: ["a"] }, { l: "a" })).toEqual({ l: ["a"] })
  })

  test("an empty desired array matches an absent one (the API server omits empty lists)", () => {
    expect(mergePatchFor({ l: [] }, {})).toBeUndefined()
    expect(mergePatchFor({ l: [] }, { l: [1] })).toEqual({ l: [] })
  })

  test("observed absent altogether: the patch is the whole desired object", () => {
    expect(mergePatchFor({ a: 1, m: { b: [1] } }, undefined)).toEqual({ a: 1, m: { b: [1] } })
  })

  test("the desired state must be an object", () => {
    expect(() => mergePatchFor([1], [1])).toThrow(TypeError)
    expect(() => mergePatchFor("x", "x")).toThrow(TypeError)
  })

  test("does not modify its inputs", () => {
    const desired = { a: { b: 1 }, l: [{ c: 1 }] }
    const observed = { a: { b: 2, z: 1 }, l: [] }
    const before = [clone(desired), clone(observed)]
    mergePatchFor(desired, observed)
    expect([desired, observed]).toEqual(before)
  })
})
