/**
 * Names the operator derives from a binding. The deployment-name formula is
 * the original operator's and existing installations depend on it: a binding
 * that already exists must map to the very same Deployment, Service and
 * Guacamole hostname after the switch.
 */
import { v5 as uuidv5 } from "uuid"

const UNRESERVED = new Uint8Array(128)
for (const c of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~/") {
  UNRESERVED[c.charCodeAt(0)] = 1
}
const HEX = "0123456789ABCDEF"
const utf8 = new TextEncoder()

/**
 * Python's `urllib.parse.quote(s)` with its default `safe='/'`: ASCII
 * letters, digits, `_ . - ~` and `/` stay; every other character is UTF-8
 * encoded and each byte written `%XX` with uppercase hex.
 *
 * Python raises on a lone surrogate (it cannot be UTF-8 encoded). A string
 * that reaches us from JSON can hold one, so instead of throwing we encode it
 * as U+FFFD (the replacement character, `%EF%BF%BD`), exactly as
 * `TextEncoder` does.
 */
export const pythonQuote = (s: string): string => {
  let out = ""
  // Bytes of a multi-byte UTF-8 sequence are all >= 0x80, so checking each
  // byte on its own is the same as checking each character.
  for (const byte of utf8.encode(s)) {
    if (byte < 128 && UNRESERVED[byte] === 1) {
      out += String.fromCharCode(byte)
    } else {
      out += "%" + HEX[byte >> 4] + HEX[byte & 15]
    }
  }
  return out
}

/** The URL whose UUIDv5 (URL namespace) names a binding's browser container. */
export const deploymentUrlFor = (workspace: string, username: string): string =>
  "https://workspaces.xlscsde.nhs.uk/" + pythonQuote(workspace) + "/" + pythonQuote(username)

/** 32 lowercase hex digits, no dashes: `uuid5(NAMESPACE_URL, deploymentUrlFor(w, u)).hex`. */
export const deploymentNameFor = (workspace: string, username: string): string =>
  uuidv5(deploymentUrlFor(workspace, username), uuidv5.URL).replaceAll("-", "")

export const serviceNameFor = (deploymentName: string): string => `client-${deploymentName}`

export const secretNameFor = (deploymentName: string): string => `client-${deploymentName}-vnc`

/** The Guacamole entity (user) name: Guacamole looks users up by `<workspace>@<username>`. */
export const entityNameFor = (workspace: string, username: string): string => `${workspace}@${username}`

/** The `hostname` connection parameter Guacamole dials (the headless Service's DNS name). */
export const connectionHostnameFor = (deploymentName: string, namespace: string): string =>
  `${serviceNameFor(deploymentName)}.${namespace}.svc.cluster.local`
