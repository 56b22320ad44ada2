// validate.mjs: render kustomizations with `kubectl kustomize` and validate
// every object offline, then check what wiggly's deployment relies on.
//
//   node validate.mjs [--modules DIR] [--complete] [--hpa] [--gpu] [--observability]
//                     KUSTOMIZATION_DIR...
//
// 1. Schema: each object against the published OpenAPI schema of its kind:
//    Kubernetes (npm kubernetes-models), KEDA (@kubernetes-models/keda) and
//    Config Connector (@kubernetes-models/gke, pubsub.cnrm.cloud.google.com).
//    Those validators ignore unknown fields, so every object is also walked
//    through a Proxy that records which fields the validator looked at; a
//    field it never read is a typo (or a field of another version) and an
//    error. Managed Prometheus' PodMonitoring has no npm model: it gets a
//    structural check (known fields, required ones, types).
// 2. Wiring: probes on /healthz and /readyz, grace period above the job's
//    runtime.shutdown_grace_s, non-root and read-only root with an emptyDir at
//    runtime.temp_dir, maxUnavailable 0, memory request and limit, the
//    config/SA/scaler references resolve, the KEDA trigger uses mode+value
//    (not the removed subscriptionSize) on the job's own subscription, a
//    NetworkPolicy selects every job's pods and admits only chosen sources,
//    only on the config's listen port, the
//    job config (docs/config.md) is well formed and its subscription and
//    topics are declared as Config Connector objects.
// --complete: the render is a whole graph, so every topicRef and every topic
//    a config names must be declared in it.
// --hpa: also render each job overlay with components/hpa added (in a copy
//    of the tree), as docs/deploy.md tells operators to do.
// --gpu: likewise with components/gpu, and check that the container limits
//    nvidia.com/gpu to 1, the pods select a GKE accelerator node pool and
//    tolerate the nvidia.com/gpu NoSchedule taint.
// --observability: also render each directory with components/observability
//    (Managed Prometheus) and with components/observability-prometheus-operator
//    added (in a copy of the tree), and check what they ship
//    (observability.mjs): the rule objects' structure, every PromQL expression
//    of the rules and of the dashboard's targets through `promtool check
//    rules`, and the Grafana dashboard against the schemaVersion it declares.
// --modules DIR: where `npm ci` put node_modules [this script's directory].
// Exit status: 0 all valid, 1 any error, 2 bad usage.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
let modulesDir = here;
let complete = false;
let hpa = false;
let gpu = false;
let observability = false;
const dirs = [];
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  if (a === "--modules") modulesDir = argv[++i];
  else if (a === "--complete") complete = true;
  else if (a === "--hpa") hpa = true;
  else if (a === "--gpu") gpu = true;
  else if (a === "--observability") observability = true;
  else if (a.startsWith("-")) usage(`unknown option ${a}`);
  else dirs.push(a);
}
if (!dirs.length || !modulesDir) usage("no kustomization directory given");

function usage(msg) {
  console.error(`validate.mjs: ${msg}\nusage: node validate.mjs [--modules DIR] [--complete] [--hpa] [--gpu] [--observability] DIR...`);
  process.exit(2);
}

const require = createRequire(path.join(path.resolve(modulesDir), "node_modules", "_"));
const OBS = await import("./observability.mjs");
const YAML = require("yaml");
const M = (pkg, group, kind) => require(`${pkg}/${group}/${kind}`)[kind];
const models = new Map(
  [
    ["v1", "Namespace", "kubernetes-models", "v1"],
    ["v1", "ServiceAccount", "kubernetes-models", "v1"],
    ["v1", "ConfigMap", "kubernetes-models", "v1"],
    ["apps/v1", "Deployment", "kubernetes-models", "apps/v1"],
    ["policy/v1", "PodDisruptionBudget", "kubernetes-models", "policy/v1"],
    ["networking.k8s.io/v1", "NetworkPolicy", "kubernetes-models", "networking.k8s.io/v1"],
    ["autoscaling/v2", "HorizontalPodAutoscaler", "kubernetes-models", "autoscaling/v2"],
    ["keda.sh/v1alpha1", "ScaledObject", "@kubernetes-models/keda", "keda.sh/v1alpha1"],
    ["keda.sh/v1alpha1", "TriggerAuthentication", "@kubernetes-models/keda", "keda.sh/v1alpha1"],
    ["pubsub.cnrm.cloud.google.com/v1beta1", "PubSubTopic", "@kubernetes-models/gke", "pubsub.cnrm.cloud.google.com/v1beta1"],
    ["pubsub.cnrm.cloud.google.com/v1beta1", "PubSubSubscription", "@kubernetes-models/gke", "pubsub.cnrm.cloud.google.com/v1beta1"],
  ].map(([av, kind, pkg, dir]) => [`${av} ${kind}`, () => M(pkg, dir, kind)]),
);

let errors = 0;
let where = "";
function fail(msg) {
  errors++;
  console.error(`ERROR ${where}: ${msg}`);
}

// --- schema validation with unknown-field detection -----------------------
function tracked(root) {
  const reads = new Map();
  const proxies = new Map();
  const wrap = (o) => {
    if (o === null || typeof o !== "object") return o;
    if (proxies.has(o)) return proxies.get(o);
    const seen = new Set();
    reads.set(o, seen);
    const p = new Proxy(o, {
      get(t, k, r) {
        if (typeof k === "string") seen.add(k);
        return wrap(Reflect.get(t, k, r));
      },
      ownKeys(t) {
        for (const k of Reflect.ownKeys(t)) seen.add(k);
        return Reflect.ownKeys(t);
      },
    });
    proxies.set(o, p);
    return p;
  };
  return { proxy: wrap(root), reads };
}

function unknownFields(o, reads, at, out) {
  if (o === null || typeof o !== "object") return;
  const seen = reads.get(o);
  for (const k of Object.keys(o)) {
    // An object the validator looked into but whose key it never read.
    if (seen && seen.size && !seen.has(k)) out.push(`${at}/${k}`);
    unknownFields(o[k], reads, `${at}/${k}`, out);
  }
}

function schemaCheck(obj) {
  const key = `${obj.apiVersion} ${obj.kind}`;
  if (key === "monitoring.googleapis.com/v1 PodMonitoring") return podMonitoringCheck(obj);
  if (OBS.ruleKinds.has(key)) return OBS.rulesObjectCheck(obj, fail);
  const load = models.get(key);
  if (!load) return fail(`no schema for ${key}: add its model to validate.mjs`);
  const Model = load();
  const data = JSON.parse(JSON.stringify(obj));
  const { proxy, reads } = tracked(data);
  try {
    Model.prototype.validate.call(proxy);
  } catch (e) {
    return fail(`schema: ${e.message}`);
  }
  const unknown = [];
  unknownFields(data, reads, "", unknown);
  for (const f of unknown) fail(`unknown field ${f} (not in the ${key} schema)`);
}

// Structural check from the PodMonitoring reference (no npm model exists).
function podMonitoringCheck(o) {
  const only = (v, keys, at) => {
    if (!v || typeof v !== "object" || Array.isArray(v)) return fail(`${at} must be an object`);
    for (const k of Object.keys(v)) if (!keys.includes(k)) fail(`unknown field ${at}/${k}`);
  };
  only(o, ["apiVersion", "kind", "metadata", "spec"], "");
  only(o.spec, ["selector", "endpoints", "targetLabels", "limits", "filterRunning"], "/spec");
  only(o.spec?.selector, ["matchLabels", "matchExpressions"], "/spec/selector");
  if (!Array.isArray(o.spec?.endpoints) || !o.spec.endpoints.length) fail("/spec/endpoints must be a non-empty list");
  for (const [i, e] of (o.spec?.endpoints ?? []).entries()) {
    only(e, ["port", "path", "interval", "timeout", "scheme", "params", "metricRelabeling", "proxyUrl", "authorization", "basicAuth", "oauth2", "tls"], `/spec/endpoints/${i}`);
    if (e.port === undefined) fail(`/spec/endpoints/${i}/port is required`);
    if (e.interval !== undefined && !/^\d+(ms|s|m|h)$/.test(e.interval)) fail(`/spec/endpoints/${i}/interval '${e.interval}' is not a duration`);
  }
}

// --- the job config (docs/config.md) --------------------------------------
const CFG = {
  job: "string", project: "string", events: { subscription: "string", file: "string" },
  input: { location: "string", suffix: "string" },
  output: { location: "string", suffix: "string", topics: "strings", audio: "bool" },
  parent: { job: "string", topic: "string" }, dead_letter_topic: "string",
  steps: { channels: "channels", rate: "int", quality: "string", format: "string", bits: "int", vbr_quality: "number", bitrate_kbps: "int" },
  features: { enabled: "bool", location: "string", suffix: "string" },
  runtime: { workers: "int", max_in_flight: "int", ack_deadline_s: "int", max_attempts: "int", message_timeout_s: "int", max_input_mb: "int", shutdown_grace_s: "int", max_visits: "int", max_audit: "int", temp_dir: "string" },
  transform: { command: "strings", workers: "int", max_in_flight: "int", startup_timeout_s: "int", timeout_s: "int", env: "stringmap", params: "object", outputs: "stringmap" },
  force: "bool", ping: "bool", listen: "string",
};
const isObject = (v) => !!v && typeof v === "object" && !Array.isArray(v);
function cfgTypeCheck(v, spec, at) {
  if (typeof spec === "object") {
    if (!v || typeof v !== "object" || Array.isArray(v)) return fail(`job config ${at || "/"} must be an object`);
    for (const k of Object.keys(v)) {
      if (!(k in spec)) fail(`job config: unknown key ${at}/${k}`);
      else cfgTypeCheck(v[k], spec[k], `${at}/${k}`);
    }
    return;
  }
  const ok = {
    string: typeof v === "string", bool: typeof v === "boolean", number: typeof v === "number",
    int: Number.isInteger(v), strings: Array.isArray(v) && v.every((s) => typeof s === "string"),
    channels: Number.isInteger(v) || ["keep", "mono", "stereo"].includes(v),
    object: isObject(v),
    stringmap: isObject(v) && Object.values(v).every((s) => typeof s === "string"),
  }[spec];
  if (!ok) fail(`job config: ${at} must be ${spec}, got ${JSON.stringify(v)}`);
}

function jobConfigCheck(text) {
  let c;
  try {
    c = JSON.parse(text);
  } catch (e) {
    return fail(`job.json is not JSON: ${e.message}`);
  }
  cfgTypeCheck(c, CFG, "");
  if (!/^[A-Za-z0-9_-]{1,63}$/.test(c.job ?? "")) fail(`job config: job '${c.job}' must match [A-Za-z0-9_-]{1,63}`);
  const ev = Object.keys(c.events ?? {});
  if (ev.length !== 1) fail("job config: events needs exactly one of subscription, file");
  for (const k of ["input", "output"]) {
    const loc = c[k]?.location;
    if (!loc) fail(`job config: ${k}.location is required`);
    else if (!/^(gs:\/\/[^/]+\/|file:\/\/\/)/.test(loc)) fail(`job config: ${k}.location '${loc}' is not gs://bucket/... or file:///...`);
  }
  const steps = c.steps ?? {};
  const oneOf = (v, list, name) => v === undefined || list.includes(v) || fail(`job config: steps.${name} '${v}' is not one of ${list.join("|")}`);
  oneOf(steps.quality, ["quick", "low", "medium", "high", "very-high"], "quality");
  oneOf(steps.format, ["wav", "flac", "ogg", "opus", "mp3"], "format");
  oneOf(steps.bits, [16, 24, 32], "bits");
  const topic = /^projects\/[^/]+\/topics\/[^/]+$/;
  for (const t of [...(c.output?.topics ?? []), c.dead_letter_topic, c.parent?.topic].filter(Boolean))
    if (!topic.test(t)) fail(`job config: '${t}' is not projects/P/topics/T`);
  if (c.events?.subscription && !/^projects\/[^/]+\/subscriptions\/[^/]+$/.test(c.events.subscription))
    fail(`job config: '${c.events.subscription}' is not projects/P/subscriptions/S`);
  if (c.parent && (!c.parent.job || !c.parent.topic)) fail("job config: parent needs job and topic");
  // docs/transforms.md: a program to run and 1 to 6 outputs.
  if (c.transform) {
    if (!c.transform.command?.length) fail("job config: transform.command must name a program");
    const n = Object.keys(c.transform.outputs ?? {}).length;
    if (n < 1 || n > 6) fail(`job config: transform.outputs needs 1 to 6 entries, has ${n}`);
  }
  return c;
}

// --- wiring checks --------------------------------------------------------
const short = (p) => (p ?? "").split("/").pop();

// Does a LabelSelector select these labels? (an empty selector selects all)
function selects(sel, labels) {
  if (!sel) return false;
  const ok = Object.entries(sel.matchLabels ?? {}).every(([k, v]) => labels[k] === v);
  return ok && (sel.matchExpressions ?? []).every((e) => {
    const has = Object.hasOwn(labels, e.key);
    switch (e.operator) {
      case "In": return has && e.values.includes(labels[e.key]);
      case "NotIn": return !has || !e.values.includes(labels[e.key]);
      case "Exists": return has;
      case "DoesNotExist": return !has;
      default: return false;
    }
  });
}

// The health/metrics port must not be open to the whole cluster: some
// NetworkPolicy selects the pods, and every ingress rule of those names its
// sources and admits only the config's listen port.
function networkPolicyCheck(d, cfg, objs) {
  const labels = d.spec.template.metadata?.labels ?? {};
  const c = d.spec.template.spec.containers?.[0] ?? {};
  const port = (cfg.listen ?? "0.0.0.0:8080").split(":").pop();
  const ports = new Map((c.ports ?? []).map((p) => [p.name, String(p.containerPort)]));
  const pols = objs.filter((o) => o.kind === "NetworkPolicy" && selects(o.spec?.podSelector, labels));
  const ingress = pols.filter((p) => (p.spec.policyTypes ?? ["Ingress"]).includes("Ingress"));
  if (!ingress.length) return fail("no NetworkPolicy isolates its pods for ingress: the health/metrics port is open to every pod of the cluster");
  for (const p of ingress) {
    for (const [i, r] of (p.spec.ingress ?? []).entries()) {
      const at = `NetworkPolicy ${p.metadata.name} ingress[${i}]`;
      if (!r.from?.length) fail(`${at} admits every source`);
      if (!r.ports?.length) fail(`${at} admits every port`);
      for (const pp of r.ports ?? []) {
        const n = ports.get(pp.port) ?? String(pp.port);
        if (n !== port) fail(`${at} admits port ${pp.port}, not the config's listen port ${port}`);
      }
    }
  }
}

function wiringCheck(objs, label) {
  const by = (kind) => objs.filter((o) => o.kind === kind);
  const named = (kind, name) => objs.find((o) => o.kind === kind && o.metadata?.name === name);
  const topics = new Set(by("PubSubTopic").map((t) => t.metadata.name));
  const topicIds = new Set(by("PubSubTopic").map((t) => t.spec?.resourceID ?? t.metadata.name));
  const subIds = new Set(by("PubSubSubscription").map((s) => s.spec?.resourceID ?? s.metadata.name));
  const jobs = new Map(); // Deployment name -> job config

  for (const d of by("Deployment")) {
    where = `${label} Deployment/${d.metadata.name}`;
    const spec = d.spec.template.spec;
    const c = spec.containers?.[0] ?? {};
    const cmName = (spec.volumes ?? []).find((v) => v.configMap)?.configMap?.name;
    const cm = named("ConfigMap", cmName);
    if (!cm) {
      fail(`config volume names ConfigMap '${cmName}', which the render does not contain`);
      continue;
    }
    const mount = (c.volumeMounts ?? []).find((m) => (spec.volumes ?? []).find((v) => v.name === m.name && v.configMap));
    const arg = (c.args ?? []).indexOf("-c");
    const cfgPath = arg >= 0 ? c.args[arg + 1] : "/etc/wiggly/job.json";
    if (!mount || !cfgPath.startsWith(mount.mountPath + "/") || !cm.data?.[cfgPath.slice(mount.mountPath.length + 1)])
      fail(`wiggly reads ${cfgPath}, but the ConfigMap is not mounted there with that key`);
    const key = Object.keys(cm.data ?? {})[0];
    const where0 = where;
    where = `${label} ConfigMap/${cmName} ${key}`;
    const cfg = jobConfigCheck(cm.data?.[key] ?? "");
    where = where0;
    if (!cfg) continue;
    jobs.set(d.metadata.name, cfg);
    const grace = cfg.runtime?.shutdown_grace_s ?? 100;
    if (!(spec.terminationGracePeriodSeconds >= grace + 10))
      fail(`terminationGracePeriodSeconds ${spec.terminationGracePeriodSeconds} must exceed runtime.shutdown_grace_s ${grace} by >= 10 s`);
    const port = (cfg.listen ?? "0.0.0.0:8080").split(":").pop();
    const ports = new Map((c.ports ?? []).map((p) => [p.name, String(p.containerPort)]));
    for (const [probe, p] of [["startupProbe", "/healthz"], ["livenessProbe", "/healthz"], ["readinessProbe", "/readyz"]]) {
      const g = c[probe]?.httpGet;
      if (!g || g.path !== p) fail(`${probe} must GET ${p}`);
      else if ((ports.get(g.port) ?? String(g.port)) !== port) fail(`${probe} port ${g.port} is not the config's listen port ${port}`);
    }
    if (!spec.securityContext?.runAsNonRoot) fail("pod must set runAsNonRoot");
    if (!c.securityContext?.readOnlyRootFilesystem) fail("container must set readOnlyRootFilesystem");
    const tmp = cfg.runtime?.temp_dir ?? "/tmp";
    const tmpMount = (c.volumeMounts ?? []).find((m) => m.mountPath === tmp);
    if (!tmpMount || !(spec.volumes ?? []).find((v) => v.name === tmpMount.name && v.emptyDir))
      fail(`no emptyDir mounted at runtime.temp_dir ${tmp}`);
    if (d.spec.strategy?.rollingUpdate?.maxUnavailable !== 0) fail("rollingUpdate.maxUnavailable must be 0");
    if (!c.resources?.requests?.memory || !c.resources?.limits?.memory) fail("memory request and limit are required");
    if (d.spec.replicas !== undefined) fail("replicas must be left to the autoscaler");
    networkPolicyCheck(d, cfg, objs);
    const sa = named("ServiceAccount", spec.serviceAccountName);
    if (!sa) fail(`serviceAccountName '${spec.serviceAccountName}' is not in the render`);
    else if (!/^[^@]+@[^.]+\.iam\.gserviceaccount\.com$/.test(sa.metadata.annotations?.["iam.gke.io/gcp-service-account"] ?? ""))
      fail(`ServiceAccount ${sa.metadata.name} lacks the iam.gke.io/gcp-service-account annotation`);
    if (topics.size || subIds.size) {
      const sub = short(cfg.events?.subscription);
      if (sub && !subIds.has(sub)) fail(`the job's subscription '${sub}' is not declared as a PubSubSubscription`);
      for (const t of [...(cfg.output?.topics ?? []), cfg.dead_letter_topic].filter(Boolean))
        if (!topicIds.has(short(t))) fail(`topic '${short(t)}' of the job config is not declared as a PubSubTopic`);
      if (complete && cfg.parent?.topic && !topicIds.has(short(cfg.parent.topic)))
        fail(`parent topic '${short(cfg.parent.topic)}' is not declared in the graph`);
    }
  }

  for (const s of by("ScaledObject")) {
    where = `${label} ScaledObject/${s.metadata.name}`;
    const cfg = jobs.get(s.spec.scaleTargetRef?.name);
    if (!named("Deployment", s.spec.scaleTargetRef?.name)) fail(`scaleTargetRef '${s.spec.scaleTargetRef?.name}' is not a Deployment in the render`);
    for (const t of s.spec.triggers ?? []) {
      if (t.type !== "gcp-pubsub") continue;
      const m = t.metadata ?? {};
      if ("subscriptionSize" in m) fail("gcp-pubsub: subscriptionSize was removed in KEDA 2.20; use mode + value");
      if (!m.mode || !m.value) fail("gcp-pubsub trigger needs mode and value");
      const ta = named("TriggerAuthentication", t.authenticationRef?.name);
      if (!ta) fail(`authenticationRef '${t.authenticationRef?.name}' is not in the render`);
      else if (ta.spec?.podIdentity?.provider !== "gcp") fail(`TriggerAuthentication ${ta.metadata.name} must use podIdentity gcp`);
      if (cfg && short(m.subscriptionName) !== short(cfg.events?.subscription))
        fail(`scales on subscription '${m.subscriptionName}' but the job reads '${short(cfg.events?.subscription)}'`);
    }
  }
  for (const h of by("HorizontalPodAutoscaler")) {
    where = `${label} HorizontalPodAutoscaler/${h.metadata.name}`;
    const cfg = jobs.get(h.spec.scaleTargetRef?.name);
    if (!cfg) fail(`scaleTargetRef '${h.spec.scaleTargetRef?.name}' is not a wiggly Deployment in the render`);
    for (const m of h.spec.metrics ?? []) {
      const sub = m.external?.metric?.selector?.matchLabels?.["resource.labels.subscription_id"];
      if (cfg && sub !== short(cfg.events?.subscription)) fail(`metric selects subscription '${sub}' but the job reads '${short(cfg.events?.subscription)}'`);
    }
    if (by("ScaledObject").some((s) => s.spec.scaleTargetRef?.name === h.spec.scaleTargetRef?.name))
      fail("both a ScaledObject and an HPA scale the same Deployment");
  }
  for (const p of by("PodDisruptionBudget")) {
    where = `${label} PodDisruptionBudget/${p.metadata.name}`;
    const sel = p.spec.selector?.matchLabels ?? {};
    const hit = by("Deployment").filter((d) => Object.entries(sel).every(([k, v]) => d.spec.template.metadata?.labels?.[k] === v));
    if (hit.length !== 1) fail(`selects the pods of ${hit.length} Deployments, want 1`);
  }
  for (const n of by("NetworkPolicy")) {
    where = `${label} NetworkPolicy/${n.metadata.name}`;
    if (!by("Deployment").some((d) => selects(n.spec.podSelector, d.spec.template.metadata?.labels ?? {})))
      fail("selects the pods of no Deployment");
  }
  for (const s of by("PubSubSubscription")) {
    where = `${label} PubSubSubscription/${s.metadata.name}`;
    for (const [ref, what] of [[s.spec.topicRef, "topicRef"], [s.spec.deadLetterPolicy?.deadLetterTopicRef, "deadLetterTopicRef"]]) {
      if (!ref || ref.external) continue;
      if (!topics.has(ref.name) && (complete || what === "deadLetterTopicRef"))
        fail(`${what} '${ref.name}' is not a PubSubTopic in the render`);
    }
  }
  const seen = new Set();
  for (const o of objs) {
    const id = `${o.kind}/${o.metadata?.namespace ?? ""}/${o.metadata?.name}`;
    if (seen.has(id)) {
      where = label;
      fail(`duplicate object ${id}`);
    }
    seen.add(id);
  }
}

// --- main -----------------------------------------------------------------
function render(dir) {
  return execFileSync("kubectl", ["kustomize", dir], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

// components/gpu: what a GPU pod needs to be scheduled on a GPU node pool.
function gpuCheck(objs, label) {
  const deps = objs.filter((o) => o.kind === "Deployment");
  if (!deps.length) fail("no Deployment to put on a GPU");
  for (const d of deps) {
    where = `${label} Deployment/${d.metadata.name}`;
    const spec = d.spec.template.spec;
    const c = (spec.containers ?? []).find((x) => x.name === "wiggly");
    const lim = c?.resources?.limits?.["nvidia.com/gpu"];
    if (String(lim) !== "1") fail(`container wiggly: limits nvidia.com/gpu is ${lim}, want 1`);
    const req = c?.resources?.requests?.["nvidia.com/gpu"];
    if (req !== undefined && String(req) !== String(lim)) fail(`requests nvidia.com/gpu ${req} differs from the limit ${lim}`);
    if (!spec.nodeSelector?.["cloud.google.com/gke-accelerator"]) fail("nodeSelector cloud.google.com/gke-accelerator is missing");
    if (spec.nodeSelector?.["iam.gke.io/gke-metadata-server-enabled"] !== "true") fail("the base's Workload Identity nodeSelector was lost");
    const tol = (spec.tolerations ?? []).find((t) => t.key === "nvidia.com/gpu");
    if (!tol || tol.effect !== "NoSchedule" || !["Exists", "Equal"].includes(tol.operator ?? "Equal"))
      fail("no toleration of the nvidia.com/gpu NoSchedule taint");
  }
}

function validateDir(dir, label, extra) {
  let text;
  where = label;
  try {
    text = render(dir);
  } catch (e) {
    return fail(`kubectl kustomize failed: ${e.stderr || e.message}`);
  }
  const objs = YAML.parseAllDocuments(text).map((d) => d.toJS()).filter(Boolean);
  if (!objs.length) return fail("rendered nothing");
  const before = errors;
  for (const o of objs) {
    where = `${label} ${o.kind}/${o.metadata?.name}`;
    schemaCheck(o);
  }
  wiringCheck(objs, label);
  if (extra) extra(objs, label);
  if (errors > before) return console.log(`FAIL ${label}`);
  console.log(`ok   ${label}: ${objs.length} objects (${[...new Set(objs.map((o) => o.kind))].join(", ")})`);
}

// The overlay with a component added (components/hpa, components/gpu), in a
// copy of its k8s tree, the way docs/deploy.md tells operators to add it.
function validateWithComponent(dir, comp, extra) {
  const overlay = path.resolve(dir);
  const k8s = path.resolve(overlay, "../..");
  if (!fs.existsSync(path.join(k8s, "components", comp)) || !fs.existsSync(path.join(overlay, "scaling-hpa.yaml"))) return;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), `wiggly-${comp}-`));
  try {
    fs.cpSync(k8s, path.join(tmp, "k8s"), { recursive: true });
    const copy = path.join(tmp, "k8s", path.relative(k8s, overlay));
    const kf = path.join(copy, "kustomization.yaml");
    const text = fs.readFileSync(kf, "utf8").replace(/^# components:\n# - \.\.\/\.\.\/components\/hpa\n/m, "");
    fs.writeFileSync(kf, `${text}components:\n- ../../components/${comp}\n`);
    validateDir(copy, `${dir} + components/${comp}`, extra);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

// The directory with a component added to its own components list (the
// graph has one already), in a copy of its k8s tree.
function validateWithObservability(dir, comp) {
  const root = path.resolve(dir);
  let k8s = root;
  while (!fs.existsSync(path.join(k8s, "components")) && path.dirname(k8s) !== k8s) k8s = path.dirname(k8s);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), `wiggly-${comp}-`));
  try {
    fs.cpSync(k8s, path.join(tmp, "k8s"), { recursive: true });
    const copy = path.join(tmp, "k8s", path.relative(k8s, root));
    const kf = path.join(copy, "kustomization.yaml");
    const doc = YAML.parseDocument(fs.readFileSync(kf, "utf8"));
    const rel = path.relative(copy, path.join(tmp, "k8s", "components", comp));
    const list = doc.get("components");
    if (list) list.add(rel);
    else doc.set("components", [rel]);
    fs.writeFileSync(kf, doc.toString());
    validateDir(copy, `${dir} + components/${comp}`, (objs, label) =>
      OBS.observabilityCheck(objs, label, { modulesDir: path.resolve(modulesDir), fail, setWhere: (w) => (where = w) }));
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

for (const d of dirs) {
  validateDir(d, d);
  if (observability) for (const c of ["observability", "observability-prometheus-operator"]) validateWithObservability(d, c);
  if (hpa) validateWithComponent(d, "hpa");
  if (gpu) validateWithComponent(d, "gpu", gpuCheck);
}
if (errors) {
  console.error(`validate.mjs: ${errors} error(s)`);
  process.exit(1);
}
console.log("validate.mjs: all valid");
