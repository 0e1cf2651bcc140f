/**
 * The kubectl session the README shows against a running sandbox, as data:
 * the README renders it with `tourScript()`, and test/sandbox/kubectl.test.ts
 * runs exactly these steps and checks what the operator did after each.
 */

export const TOUR_NAMESPACE = "jupyterhub"
export const TOUR_BINDING = "ws2-carol"
/** Where the tour's files go: the sandbox's directory (git-ignored), relative to the clone. */
export const TOUR_DIR = ".sandbox"

/** What the operator must have done once a step's command has run. */
export type TourCheck =
  /** The command's output contains each text. */
  | { readonly kind: "output"; readonly contains: ReadonlyArray<string> }
  /** The binding is READY and its browser Deployment has (and, in time, runs) this many replicas. */
  | { readonly kind: "binding"; readonly name: string; readonly replicas: number }
  /** The binding is gone, and so are its Deployment and Service. */
  | { readonly kind: "deleted"; readonly name: string; readonly workspace: string; readonly username: string }

export interface TourFile {
  readonly name: string
  readonly content: string
}

export interface TourStep {
  /** One sentence: what the step shows. */
  readonly say: string
  /** kubectl's arguments, without --kubeconfig. */
  readonly args: ReadonlyArray<string>
  /** A file the command reads, created first (under .sandbox/, beside the sandbox's own files, never in the clone). */
  readonly file?: TourFile
  readonly check: TourCheck
}

const carol: TourFile = {
  name: `${TOUR_DIR}/${TOUR_BINDING}.yaml`,
  content: `apiVersion: xlscsde.nhs.uk/v1
kind: AnalyticsWorkspaceBinding
metadata:
  name: ${TOUR_BINDING}
  namespace: ${TOUR_NAMESPACE}
spec:
  workspace: ws2
  username: carol
  expires: "2099-12-31"
`,
}

const ns = ["-n", TOUR_NAMESPACE]

export const tour: ReadonlyArray<TourStep> = [
  {
    say: "List the bindings: the operator has made both examples READY and named their browser Deployments.",
    args: ["get", "awsb", ...ns],
    check: {
      kind: "output",
      contains: ["NAME", "WORKSPACE", "USERNAME", "EXPIRES", "STATUS", "READY", "DEPLOYMENT", "AGE", "ws1-alice", "cee3c61f22f5523cab33ca6ab9cfc699"],
    },
  },
  {
    say: "One binding in full: spec as written, status as the operator set it.",
    args: ["get", "awsb", "ws1-alice", ...ns, "-o", "yaml"],
    check: { kind: "output", contains: ["statusText: READY", "deploymentName: cee3c61f22f5523cab33ca6ab9cfc699"] },
  },
  {
    say: "Describe it: the Events say what the operator changed in Guacamole and in the cluster.",
    args: ["describe", "awsb", "ws1-alice", ...ns],
    check: { kind: "output", contains: ["Status Text:", "READY", "Provisioned", "create Guacamole user"] },
  },
  {
    say: "Grant a new researcher a workspace: the binding becomes READY, with a stopped browser (0 replicas).",
    args: ["apply", "-f", carol.name],
    file: carol,
    check: { kind: "binding", name: TOUR_BINDING, replicas: 0 },
  },
  {
    say: "Sign in as Keycloak does (a JSON patch of spec.replicas): the browser Deployment scales to 1 and becomes ready.",
    args: ["patch", "awsb", TOUR_BINDING, ...ns, "--type=json", "-p", '[{"op":"replace","path":"/spec/replicas","value":1}]'],
    check: { kind: "binding", name: TOUR_BINDING, replicas: 1 },
  },
  {
    say: "Stop the browser through the scale subresource.",
    args: ["scale", `awsb/${TOUR_BINDING}`, ...ns, "--replicas=0"],
    check: { kind: "binding", name: TOUR_BINDING, replicas: 0 },
  },
  {
    say: "The Events of the namespace.",
    args: ["get", "events", ...ns],
    check: { kind: "output", contains: [`analyticsworkspacebinding/${TOUR_BINDING}`, "Provisioned", "BrowserReady", "BrowserStopped"] },
  },
  {
    say: "Revoke: the operator removes the browser Deployment, its Service and the Guacamole rows.",
    args: ["delete", "awsb", TOUR_BINDING, ...ns],
    check: { kind: "deleted", name: TOUR_BINDING, workspace: "ws2", username: "carol" },
  },
]

const shellQuote = (arg: string) => (/^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`)

/** The session as shell commands, for the README (files as here-documents). */
export function tourScript(kubeconfig = ".sandbox/kubeconfig"): string {
  const lines: string[] = []
  for (const step of tour) {
    lines.push(`# ${step.say}`)
    if (step.file) lines.push(`cat > ${step.file.name} <<'EOF'`, step.file.content.trimEnd(), "EOF")
    lines.push(["kubectl", "--kubeconfig", kubeconfig, ...step.args].map(shellQuote).join(" "))
  }
  return lines.join("\n") + "\n"
}
