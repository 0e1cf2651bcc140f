import { describe, expect, test } from "bun:test"
import {
  BINDING_ANNOTATION,
  BINDING_NAME_LABEL,
  BINDING_NAMESPACE_LABEL,
  ownerBindingKey,
  desiredDeployment,
  desiredSecret,
  desiredService,
  generateVncPassword,
  isValidLabelValue,
  VNC_PASSWORD_ALPHABET,
  vncPasswordOf
} from "../../src/domain/desired.ts"
import { deploymentNameFor } from "../../src/domain/naming.ts"
import { bindingOf, DEPLOYMENT, settings } from "./fixtures.ts"

const mapping = {
  "xlscsde.nhs.uk/purpose": "workspace-client",
  "xlscsde.nhs.uk/deployment-name": DEPLOYMENT,
  "app.kubernetes.io/managed-by": "awms-guacamole-operator",
  "xlscsde.nhs.uk/binding-namespace": "jupyterhub",
  "xlscsde.nhs.uk/binding-name": "alice-ws1"
}
const annotations = {
  "xlscsde.nhs.uk/binding": "jupyterhub/alice-ws1",
  "xlscsde.nhs.uk/workspace": "ws1",
  "xlscsde.nhs.uk/username": "alice"
}

describe("desired objects", () => {
  const b = bindingOf()

  test("the deployment name used below is the binding's", () => {
    expect(deploymentNameFor("ws1", "alice")).toBe(DEPLOYMENT)
  })

  test("the Deployment, exactly as the reference describes it, plus the mapping to the binding", () => {
    expect(desiredDeployment(b, DEPLOYMENT, 1, settings)).toEqual({
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: DEPLOYMENT, namespace: "guacamole", labels: mapping, annotations },
      spec: {
        replicas: 1,
        selector: { matchLabels: { "xlscsde.nhs.uk/deployment-name": DEPLOYMENT } },
        template: {
          metadata: {
            labels: { "xlscsde.nhs.uk/purpose": "workspace-client", "xlscsde.nhs.uk/deployment-name": DEPLOYMENT },
            annotations: { "xlscsde.nhs.uk/workspace": "ws1", "xlscsde.nhs.uk/username": "alice" }
          },
          spec: {
            automountServiceAccountToken: false,
            enableServiceLinks: false,
            securityContext: {
              runAsUser: null,
              runAsGroup: null,
              fsGroup: null,
              runAsNonRoot: null,
              seccompProfile: { type: "RuntimeDefault" }
            },
            nodeSelector: null,
            tolerations: [],
            containers: [
              {
                name: DEPLOYMENT,
                image: "lscsde/browser:1.2.3",
                securityContext: {
                  allowPrivilegeEscalation: false,
                  capabilities: { drop: ["ALL"] },
                  readOnlyRootFilesystem: false
                },
                resources: { requests: null, limits: null },
                ports: [{ name: "vnc", containerPort: 5900 }],
                env: [
                  { name: "BROWSER_URL", value: "https://jupyter.example.org/" },
                  {
                    name: "VNC_PASSWORD",
                    valueFrom: { secretKeyRef: { name: `client-${DEPLOYMENT}-vnc`, key: "password" } }
                  }
                ],
                volumeMounts: [
                  { name: "firefox-config", mountPath: "/usr/lib/firefox/distribution", readOnly: true },
                  {
                    name: "xlscsde-enterprise-certificate",
                    mountPath: "/usr/lib/firefox/distribution/certs",
                    readOnly: true
                  }
                ]
              }
            ],
            volumes: [
              { name: "firefox-config", configMap: { name: "firefox-config" } },
              { name: "xlscsde-enterprise-certificate", configMap: { name: "xlscsde-enterprise-certificate" } }
            ]
          }
        }
      }
    })
  })

  test("replicas is the caller's (0 for an expired binding), not read from the binding", () => {
    expect(desiredDeployment(b, DEPLOYMENT, 0, settings).spec.replicas).toBe(0)
  })

  test("the headless Service", () => {
    expect(desiredService(b, DEPLOYMENT, settings)).toEqual({
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: `client-${DEPLOYMENT}`, namespace: "guacamole", labels: mapping, annotations },
      spec: {
        clusterIP: "None",
        selector: { "xlscsde.nhs.uk/deployment-name": DEPLOYMENT },
        ports: [{ name: "vnc", port: 5900, targetPort: 5900 }]
      }
    })
  })

  test("the Secret holds the password base64-encoded under `password`", () => {
    const secret = desiredSecret(b, DEPLOYMENT, "Ab3-_xYz", settings)
    expect(secret).toEqual({
      apiVersion: "v1",
      kind: "Secret",
      type: "Opaque",
      metadata: { name: `client-${DEPLOYMENT}-vnc`, namespace: "guacamole", labels: mapping, annotations },
      data: { password: "QWIzLV94WXo=" }
    })
    expect(vncPasswordOf(secret)).toBe("Ab3-_xYz")
    expect(vncPasswordOf({ data: {} })).toBeUndefined()
    expect(vncPasswordOf({})).toBeUndefined()
    expect(vncPasswordOf({ data: { password: "" } })).toBeUndefined()
  })

  test("every object maps back to its binding through the annotation", () => {
    for (const obj of [
      desiredDeployment(b, DEPLOYMENT, 1, settings),
      desiredService(b, DEPLOYMENT, settings),
      desiredSecret(b, DEPLOYMENT, "password", settings)
    ]) {
      expect(ownerBindingKey(obj)).toBe("jupyterhub/alice-ws1")
    }
    expect(ownerBindingKey({})).toBeUndefined()
    expect(ownerBindingKey({ metadata: { annotations: {} } })).toBeUndefined()
    expect(ownerBindingKey({ metadata: { annotations: { [BINDING_ANNOTATION]: "garbage" } } })).toBeUndefined()
  })

  test("a binding name that is not a valid label value gets no name label, but keeps the annotation", () => {
    const longName = "a".repeat(64)
    const d = desiredDeployment(bindingOf({}, { name: longName }), DEPLOYMENT, 1, settings)
    expect(d.metadata.labels[BINDING_NAME_LABEL]).toBeUndefined()
    expect(d.metadata.labels[BINDING_NAMESPACE_LABEL]).toBe("jupyterhub")
    expect(ownerBindingKey(d)).toBe(`jupyterhub/${longName}`)
    const dotted = desiredService(bindingOf({}, { name: "alice.ws1" }), DEPLOYMENT, settings)
    expect(dotted.metadata.labels[BINDING_NAME_LABEL]).toBe("alice.ws1")
  })

  test("label value syntax", () => {
    expect(isValidLabelValue("")).toBe(true)
    expect(isValidLabelValue("a".repeat(63))).toBe(true)
    expect(isValidLabelValue("a".repeat(64))).toBe(false)
    expect(isValidLabelValue("-a")).toBe(false)
    expect(isValidLabelValue("a.b_c-d")).toBe(true)
    expect(isValidLabelValue("a@b")).toBe(false)
  })

  test("workspace and username with any characters go to annotations, never to labels", () => {
    const d = desiredDeployment(bindingOf({ workspace: "ws1", username: "café ws/a@b.org" }), DEPLOYMENT, 1, settings)
    expect(d.spec.template.metadata.annotations).toEqual({
      "xlscsde.nhs.uk/workspace": "ws1",
      "xlscsde.nhs.uk/username": "café ws/a@b.org"
    })
    for (const value of Object.values(d.metadata.labels)) expect(isValidLabelValue(value)).toBe(true)
  })
})

describe("generateVncPassword", () => {
  const fixed = (bytes: number[]) => (n: number) => Uint8Array.from(bytes.slice(0, n))

  test("8 characters, each the low 6 bits of a byte as an index into the 64-symbol alphabet", () => {
    expect(VNC_PASSWORD_ALPHABET.length).toBe(64)
    expect(new Set(VNC_PASSWORD_ALPHABET).size).toBe(64)
    expect(generateVncPassword(fixed([0, 1, 26, 52, 62, 63, 64, 255]))).toBe("ABa0-_A_")
  })

  test("asks for exactly 8 bytes and refuses fewer", () => {
    const asked: number[] = []
    generateVncPassword((n) => {
      asked.push(n)
      return new Uint8Array(n)
    })
    expect(asked).toEqual([8])
    expect(() => generateVncPassword(() => new Uint8Array(7))).toThrow(RangeError)
  })

  test("every byte value maps to each symbol exactly 4 times (no modulo bias)", () => {
    const counts = new Map<string, number>()
    for (let byte = 0; byte < 256; byte++) {
      const c = generateVncPassword(() => new Uint8Array(8).fill(byte))[0]!
      counts.set(c, (counts.get(c) ?? 0) + 1)
    }
    expect(counts.size).toBe(64)
    for (const n of counts.values()) expect(n).toBe(4)
  })

  test("with real randomness, passwords differ and use only the alphabet", () => {
    const random = (n: number) => crypto.getRandomValues(new Uint8Array(n))
    const a = generateVncPassword(random)
    const b = generateVncPassword(random)
    expect(a).toMatch(/^[A-Za-z0-9_-]{8}$/)
    expect(b).toMatch(/^[A-Za-z0-9_-]{8}$/)
    // 2^-48 chance of a false failure.
    expect(a).not.toBe(b)
  })
})
