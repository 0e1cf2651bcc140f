/**
 * The Kubernetes objects a binding should have, as plain JSON: what the
 * operator creates, and what it compares (see diff.ts) with what the API
 * server holds to find the merge patch to send.
 *
 * Only fields we mean are set: whatever the API server defaults (protocol,
 * imagePullPolicy, defaultMode, strategy, ...) is left to it, and the
 * comparison ignores fields absent from the desired object.
 *
 * The objects live in the Guacamole namespace while bindings live elsewhere
 * (usually the JupyterHub namespace). Owner references cannot cross
 * namespaces, so each object carries the annotation `xlscsde.nhs.uk/binding`
 * = "namespace/name" that maps it back to its binding, and, where the values
 * fit Kubernetes' label syntax, the same as two labels for selection.
 */
import type { Binding } from "./binding.ts"
import { bindingKey } from "./binding.ts"
import {
  browserContainerFields,
  browserPodSpec,
  writableMounts,
  writableVolumes,
  type BrowserPodSettings,
} from "./browser-pod.ts"
import { secretNameFor, serviceNameFor } from "./naming.ts"

export interface WorkloadSettings {
  /** Where the Deployments, Services and Secrets live (`NAMESPACE`). */
  readonly namespace: string
  /** The browser container image (`IMAGE_NAME`). */
  readonly imageName: string
  /** What the browser opens (`BROWSER_URL`). */
  readonly browserUrl: string
  /** The value of `app.kubernetes.io/managed-by`. */
  readonly operatorName: string
  /** Security context, resources and scheduling of the browser pods (see browser-pod.ts). */
  readonly pod: BrowserPodSettings
}

export const PURPOSE_LABEL = "xlscsde.nhs.uk/purpose"
export const PURPOSE = "workspace-client"
export const DEPLOYMENT_NAME_LABEL = "xlscsde.nhs.uk/deployment-name"
export const WORKSPACE_ANNOTATION = "xlscsde.nhs.uk/workspace"
export const USERNAME_ANNOTATION = "xlscsde.nhs.uk/username"
export const MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
/** Set only when the binding's namespace is a valid label value (it always is: namespaces are DNS labels). */
export const BINDING_NAMESPACE_LABEL = "xlscsde.nhs.uk/binding-namespace"
/** Set only when the binding's name is a valid label value (at most 63 characters; names may have 253). */
export const BINDING_NAME_LABEL = "xlscsde.nhs.uk/binding-name"
/** Always set: "namespace/name" of the binding the object belongs to. */
export const BINDING_ANNOTATION = "xlscsde.nhs.uk/binding"
/** The key of the VNC password in the Secret. */
export const VNC_PASSWORD_KEY = "password"

export const VNC_PORT = 5900
export const VNC_PORT_NAME = "vnc"
export const CERTIFICATE_CONFIGMAP = "xlscsde-enterprise-certificate"
export const CERTIFICATE_MOUNT_PATH = "/usr/lib/firefox/distribution/certs"
export const FIREFOX_CONFIGMAP = "firefox-config"
export const FIREFOX_MOUNT_PATH = "/usr/lib/firefox/distribution"

/** Kubernetes' label value syntax: empty, or at most 63 of [A-Za-z0-9-_.] beginning and ending alphanumeric. */
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/
export const isValidLabelValue = (s: string): boolean => s.length <= 63 && LABEL_VALUE.test(s)

/** The key of the binding that owns an object (a browser Deployment, Service or Secret), read back from its `xlscsde.nhs.uk/binding` annotation. */
export const ownerBindingKey = (obj: {
  readonly metadata?: { readonly annotations?: Readonly<Record<string, string>> | undefined } | undefined
}): string | undefined => {
  const key = obj.metadata?.annotations?.[BINDING_ANNOTATION]
  return key !== undefined && key.includes("/") ? key : undefined
}

const labelsFor = (b: Binding, deploymentName: string, s: WorkloadSettings): Record<string, string> => {
  const labels: Record<string, string> = {
    [PURPOSE_LABEL]: PURPOSE,
    [DEPLOYMENT_NAME_LABEL]: deploymentName,
    [MANAGED_BY_LABEL]: s.operatorName
  }
  if (isValidLabelValue(b.metadata.namespace)) labels[BINDING_NAMESPACE_LABEL] = b.metadata.namespace
  if (isValidLabelValue(b.metadata.name)) labels[BINDING_NAME_LABEL] = b.metadata.name
  return labels
}

const annotationsFor = (b: Binding): Record<string, string> => ({
  [BINDING_ANNOTATION]: bindingKey(b),
  [WORKSPACE_ANNOTATION]: b.spec.workspace,
  [USERNAME_ANNOTATION]: b.spec.username
})

const metadataFor = (name: string, b: Binding, deploymentName: string, s: WorkloadSettings) => ({
  name,
  namespace: s.namespace,
  labels: labelsFor(b, deploymentName, s),
  annotations: annotationsFor(b)
})

/**
 * The browser container's Deployment: `replicas` pods (the binding's
 * `spec.replicas`, or 0 once it has expired), each running the browser image
 * with VNC on 5900, the VNC password from the Secret, and the certificate
 * and Firefox policy ConfigMaps mounted read-only; locked down as
 * browser-pod.ts says.
 */
export const desiredDeployment = (b: Binding, deploymentName: string, replicas: number, s: WorkloadSettings) => ({
  apiVersion: "apps/v1",
  kind: "Deployment",
  metadata: metadataFor(deploymentName, b, deploymentName, s),
  spec: {
    replicas,
    selector: { matchLabels: { [DEPLOYMENT_NAME_LABEL]: deploymentName } },
    template: {
      metadata: {
        labels: { [PURPOSE_LABEL]: PURPOSE, [DEPLOYMENT_NAME_LABEL]: deploymentName },
        annotations: { [WORKSPACE_ANNOTATION]: b.spec.workspace, [USERNAME_ANNOTATION]: b.spec.username }
      },
      spec: {
        ...browserPodSpec(s.pod),
        containers: [
          {
            name: deploymentName,
            image: s.imageName,
            ...browserContainerFields(s.pod),
            ports: [{ name: VNC_PORT_NAME, containerPort: VNC_PORT }],
            env: [
              { name: "BROWSER_URL", value: s.browserUrl },
              {
                name: "VNC_PASSWORD",
                valueFrom: { secretKeyRef: { name: secretNameFor(deploymentName), key: VNC_PASSWORD_KEY } }
              }
            ],
            // The parent directory first, then the directory mounted inside it.
            volumeMounts: [
              { name: FIREFOX_CONFIGMAP, mountPath: FIREFOX_MOUNT_PATH, readOnly: true },
              { name: CERTIFICATE_CONFIGMAP, mountPath: CERTIFICATE_MOUNT_PATH, readOnly: true },
              ...writableMounts(s.pod)
            ]
          }
        ],
        volumes: [
          { name: FIREFOX_CONFIGMAP, configMap: { name: FIREFOX_CONFIGMAP } },
          { name: CERTIFICATE_CONFIGMAP, configMap: { name: CERTIFICATE_CONFIGMAP } },
          ...writableVolumes(s.pod)
        ]
      }
    }
  }
})

/** The headless Service `client-<deployment>` whose DNS name Guacamole dials on 5900. */
export const desiredService = (b: Binding, deploymentName: string, s: WorkloadSettings) => ({
  apiVersion: "v1",
  kind: "Service",
  metadata: metadataFor(serviceNameFor(deploymentName), b, deploymentName, s),
  spec: {
    clusterIP: "None",
    selector: { [DEPLOYMENT_NAME_LABEL]: deploymentName },
    ports: [{ name: VNC_PORT_NAME, port: VNC_PORT, targetPort: VNC_PORT }]
  }
})

/** The Secret `client-<deployment>-vnc` holding the VNC password the container and Guacamole share. */
export const desiredSecret = (b: Binding, deploymentName: string, password: string, s: WorkloadSettings) => ({
  apiVersion: "v1",
  kind: "Secret",
  type: "Opaque",
  metadata: metadataFor(secretNameFor(deploymentName), b, deploymentName, s),
  data: { [VNC_PASSWORD_KEY]: Buffer.from(password, "utf8").toString("base64") }
})

/** The VNC password held by an observed Secret, or undefined when it has none (or an empty one). */
export const vncPasswordOf = (secret: {
  readonly data?: Readonly<Record<string, string>> | undefined
}): string | undefined => {
  const encoded = secret.data?.[VNC_PASSWORD_KEY]
  if (encoded === undefined) return undefined
  const password = Buffer.from(encoded, "base64").toString("utf8")
  return password === "" ? undefined : password
}

/** base64url's alphabet: 64 symbols, safe in URLs, YAML, shells and Guacamole parameters. */
export const VNC_PASSWORD_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
export const VNC_PASSWORD_LENGTH = 8

/**
 * A fresh VNC password: 8 characters, 48 bits of entropy.
 *
 * Why 8: classic VNC authentication (RFB security type 2, which x11vnc
 * speaks and Guacamole's VNC client uses) turns the password into a DES key
 * of 8 bytes; everything past the 8th character is silently ignored by the
 * server. A longer password would look stronger than it is and could differ
 * from the effective one in confusing ways.
 *
 * Without modulo bias: 64 divides 256, so the low 6 bits of a uniformly
 * random byte are a uniformly random index into the 64-symbol alphabet.
 *
 * `randomBytes(n)` must return n cryptographically random bytes (the caller
 * passes a `crypto.getRandomValues`-backed function; tests pass fixed bytes).
 */
export const generateVncPassword = (randomBytes: (n: number) => Uint8Array): string => {
  const bytes = randomBytes(VNC_PASSWORD_LENGTH)
  if (bytes.length < VNC_PASSWORD_LENGTH) {
    throw new RangeError(`randomBytes returned ${bytes.length} bytes, ${VNC_PASSWORD_LENGTH} are needed`)
  }
  let password = ""
  for (let i = 0; i < VNC_PASSWORD_LENGTH; i++) {
    password += VNC_PASSWORD_ALPHABET[bytes[i]! & 63]
  }
  return password
}
