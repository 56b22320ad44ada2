// observability.mjs: checks of what k8s/components/observability and
// observability-prometheus-operator ship, used by validate.mjs
// --observability on a render that includes one of them:
//
// 1. Rule objects (Managed Prometheus Rules / GlobalRules, the Operator's
//    PrometheusRule): their structure (no npm model exists), and every
//    expression through `promtool check rules` (Debian's prometheus package,
//    scripts/deps.sh). Rules is scoped to its namespace, so it must not read
//    Cloud Monitoring's Pub/Sub metrics; those belong in GlobalRules.
// 2. The Grafana dashboard in the ConfigMap labelled grafana_dashboard: "1":
//    - the structure the schemaVersion it declares requires (DASHBOARD below:
//      panels with type, title, gridPos inside the 24-column grid, targets
//      with refIds and expressions; the templating list; datasource
//      references as {type, uid} objects, all through the ${datasource}
//      variable of type datasource/prometheus, so the dashboard works with
//      Prometheus and Managed Prometheus alike; a job variable from the
//      wiggly_job label; every $variable defined);
//    - the dashboard type Grafana publishes (npm @grafana/schema, installed
//      by npm ci), compiled with TypeScript in strict mode, when that
//      package describes the declared schemaVersion;
//    - every target expression, its variables replaced by concrete values,
//      as a recording rule through `promtool check rules`.
// 3. Every wiggly_* series an expression names is one the service exports
//    (service/metrics.c, service/httpd.c).
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));

export const ruleKinds = new Set([
  "monitoring.googleapis.com/v1 Rules",
  "monitoring.googleapis.com/v1 ClusterRules",
  "monitoring.googleapis.com/v1 GlobalRules",
  "monitoring.coreos.com/v1 PrometheusRule",
]);

const isObj = (v) => !!v && typeof v === "object" && !Array.isArray(v);
const duration = /^((\d+)(ms|s|m|h|d|w|y))+$/;

// Structure of a rule object from the Prometheus rule_group format, which
// both CRDs embed as spec.groups.
export function rulesObjectCheck(o, fail) {
  const only = (v, keys, at) => {
    if (!isObj(v)) return fail(`${at || "/"} must be an object`);
    for (const k of Object.keys(v)) if (!keys.includes(k)) fail(`unknown field ${at}/${k}`);
  };
  only(o, ["apiVersion", "kind", "metadata", "spec"], "");
  only(o.spec, ["groups"], "/spec");
  if (!Array.isArray(o.spec?.groups) || !o.spec.groups.length) return fail("/spec/groups must be a non-empty list");
  const names = new Set();
  for (const [i, g] of o.spec.groups.entries()) {
    const at = `/spec/groups/${i}`;
    only(g, ["name", "interval", "rules", "limit", "partial_response_strategy"], at);
    if (typeof g.name !== "string" || !g.name) fail(`${at}/name is required`);
    if (g.interval !== undefined && !duration.test(g.interval)) fail(`${at}/interval '${g.interval}' is not a duration`);
    if (!Array.isArray(g.rules) || !g.rules.length) fail(`${at}/rules must be a non-empty list`);
    for (const [j, r] of (g.rules ?? []).entries()) {
      const rat = `${at}/rules/${j}`;
      only(r, ["alert", "record", "expr", "for", "keep_firing_for", "labels", "annotations"], rat);
      if (!r.alert === !r.record) fail(`${rat} needs exactly one of alert and record`);
      if (typeof r.expr !== "string" || !r.expr.trim()) fail(`${rat}/expr must be a non-empty string`);
      if (r.for !== undefined && !duration.test(r.for)) fail(`${rat}/for '${r.for}' is not a duration`);
      for (const m of ["labels", "annotations"])
        if (r[m] !== undefined && (!isObj(r[m]) || !Object.values(r[m]).every((v) => typeof v === "string")))
          fail(`${rat}/${m} must map strings to strings`);
      if (r.alert) {
        if (names.has(r.alert)) fail(`${rat}: alert ${r.alert} is defined twice`);
        names.add(r.alert);
        if (!["warning", "critical", "info"].includes(r.labels?.severity)) fail(`${rat}: alert ${r.alert} needs labels.severity warning|critical|info`);
        if (!r.annotations?.summary || !r.annotations?.description) fail(`${rat}: alert ${r.alert} needs annotations summary and description`);
      }
    }
  }
}

// --- promtool --------------------------------------------------------------
function promtool(groups, what, fail) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "wiggly-promql-"));
  const file = path.join(dir, "rules.yaml");
  // JSON is YAML: no YAML writer needed.
  fs.writeFileSync(file, JSON.stringify({ groups }, null, 1));
  try {
    execFileSync("promtool", ["check", "rules", file], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  } catch (e) {
    if (e.code === "ENOENT") fail("promtool not found: scripts/deps.sh installs it (Debian package prometheus)");
    else fail(`${what}: promtool check rules failed:\n${(e.stdout ?? "") + (e.stderr ?? "")}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// --- the series the service exports ------------------------------------------
function exportedSeries() {
  const names = new Set();
  for (const f of ["service/metrics.c", "service/httpd.c"]) {
    const text = fs.readFileSync(path.join(here, "..", "..", f), "utf8");
    for (const m of text.matchAll(/\b(wiggly_[a-z_]+)/g)) names.add(m[1]);
  }
  // Histograms are rendered as NAME_bucket, NAME_sum and NAME_count.
  for (const n of [...names]) for (const s of ["_bucket", "_sum", "_count"]) names.add(n + s);
  return names;
}

function seriesCheck(expr, known, at, fail) {
  const noStrings = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""');
  for (const m of noStrings.matchAll(/\b(wiggly_[a-zA-Z0-9_]+)\b/g))
    if (m[1] !== "wiggly_job" && !known.has(m[1])) fail(`${at}: ${m[1]} is not a series the service exports`);
}

// --- the dashboard ---------------------------------------------------------
// What each supported schemaVersion requires. 42 is Grafana 12's; datasource
// references have been {type, uid} objects since 33, so a string is refused.
const DASHBOARD = {
  42: {
    top: ["uid", "title", "schemaVersion", "panels", "templating", "time", "annotations"],
    panelTypes: new Set(["timeseries", "stat", "gauge", "bargauge", "table", "text", "heatmap", "row", "barchart", "piechart", "state-timeline"]),
    variableTypes: new Set(["query", "custom", "constant", "datasource", "interval", "textbox", "adhoc", "groupby"]),
    builtins: new Set(["__rate_interval", "__interval", "__interval_ms", "__range", "__range_s", "__range_ms", "__dashboard", "__from", "__to", "__org", "__user", "__name", "__all_variables", "__timeFilter"]),
  },
};
// Concrete values for promtool: a regex for the job, durations for the rest.
const SUBSTITUTE = { job: "transcode|downsample-16k", __rate_interval: "2m", __interval: "30s", __range: "1h", datasource: "prometheus" };
const varRef = /\$(?:\{(\w+)(?::\w+)?\}|(\w+))/g;

function dsRefCheck(ref, at, fail) {
  if (typeof ref === "string") return fail(`${at}: datasource is a string; schemaVersion >= 33 wants {type, uid}`);
  if (!isObj(ref)) return fail(`${at}: datasource reference missing`);
  if (ref.type !== "prometheus" || ref.uid !== "${datasource}")
    fail(`${at}: datasource must be {type: prometheus, uid: \${datasource}} (templated), is ${JSON.stringify(ref)}`);
}

function dashboardCheck(d, fail) {
  const spec = DASHBOARD[d.schemaVersion];
  if (!Number.isInteger(d.schemaVersion)) return fail("schemaVersion must be an integer");
  if (!spec) return fail(`no checker for schemaVersion ${d.schemaVersion} (known: ${Object.keys(DASHBOARD).join(", ")})`);
  for (const k of spec.top) if (d[k] === undefined) fail(`missing top-level ${k}`);
  if (typeof d.uid !== "string" || !/^[A-Za-z0-9_-]{1,40}$/.test(d.uid)) fail(`uid '${d.uid}' must be 1-40 of [A-Za-z0-9_-]`);
  if (typeof d.title !== "string" || !d.title) fail("title must be a non-empty string");
  if (!isObj(d.time) || typeof d.time.from !== "string" || typeof d.time.to !== "string") fail("time needs from and to");
  if (!Array.isArray(d.annotations?.list)) fail("annotations.list must be a list");
  if (d.id !== undefined && d.id !== null) fail("id must be absent or null in a dashboard meant for import");

  // templating
  const vars = new Map();
  if (!Array.isArray(d.templating?.list)) fail("templating.list must be a list");
  for (const [i, v] of (d.templating?.list ?? []).entries()) {
    const at = `templating.list[${i}]`;
    if (!/^\w+$/.test(v.name ?? "")) fail(`${at}: name '${v.name}' is not a word`);
    if (vars.has(v.name)) fail(`${at}: variable ${v.name} defined twice`);
    vars.set(v.name, v);
    if (!spec.variableTypes.has(v.type)) fail(`${at}: type '${v.type}' is not a variable type`);
    if (v.type === "query") {
      dsRefCheck(v.datasource, at, fail);
      const q = typeof v.query === "string" ? v.query : v.query?.query;
      if (typeof q !== "string" || !q) fail(`${at}: a query variable needs a query`);
    }
  }
  const ds = vars.get("datasource");
  if (!ds || ds.type !== "datasource" || ds.query !== "prometheus") fail("needs a variable datasource of type datasource with query prometheus");
  const job = vars.get("job");
  const jq = typeof job?.query === "string" ? job.query : job?.query?.query;
  if (!job || job.type !== "query" || !/^label_values\(\s*wiggly_[a-z_]+\s*,\s*wiggly_job\s*\)$/.test(jq ?? ""))
    fail("needs a query variable job: label_values(<a wiggly series>, wiggly_job) (the label components/podmonitoring sets)");
  const defined = (name) => vars.has(name) || spec.builtins.has(name);

  // panels
  const exprs = [];
  const ids = new Set();
  const boxes = [];
  const walk = (panels, at) => {
    if (!Array.isArray(panels)) return fail(`${at} must be a list`);
    for (const [i, p] of panels.entries()) {
      const pat = `${at}[${i}] '${p?.title}'`;
      if (!isObj(p)) {
        fail(`${pat} must be an object`);
        continue;
      }
      if (!Number.isInteger(p.id) || ids.has(p.id)) fail(`${pat}: id must be a unique integer`);
      ids.add(p.id);
      if (!spec.panelTypes.has(p.type)) fail(`${pat}: type '${p.type}' is not a panel type`);
      if (typeof p.title !== "string" || !p.title) fail(`${pat}: title is required`);
      const g = p.gridPos;
      if (!isObj(g) || !["h", "w", "x", "y"].every((k) => Number.isInteger(g[k]) && g[k] >= 0)) {
        fail(`${pat}: gridPos needs integer h, w, x, y`);
      } else {
        if (g.w < 1 || g.h < 1 || g.x + g.w > 24) fail(`${pat}: gridPos ${JSON.stringify(g)} is outside the 24-column grid`);
        for (const b of boxes)
          if (g.x < b.g.x + b.g.w && b.g.x < g.x + g.w && g.y < b.g.y + b.g.h && b.g.y < g.y + g.h)
            fail(`${pat}: gridPos overlaps '${b.title}'`);
        boxes.push({ g, title: p.title });
      }
      if (p.type === "row") {
        if (typeof p.collapsed !== "boolean") fail(`${pat}: a row needs collapsed`);
        walk(p.panels ?? [], `${pat}.panels`);
        continue;
      }
      dsRefCheck(p.datasource, pat, fail);
      if (!isObj(p.fieldConfig) || !isObj(p.fieldConfig.defaults) || !Array.isArray(p.fieldConfig.overrides))
        fail(`${pat}: fieldConfig needs defaults and overrides`);
      if (p.type === "text") continue;
      if (!Array.isArray(p.targets) || !p.targets.length) {
        fail(`${pat}: targets must be a non-empty list`);
        continue;
      }
      const refs = new Set();
      for (const [j, t] of p.targets.entries()) {
        const tat = `${pat} targets[${j}]`;
        if (typeof t.refId !== "string" || !t.refId || refs.has(t.refId)) fail(`${tat}: refId must be unique and non-empty`);
        refs.add(t.refId);
        dsRefCheck(t.datasource, tat, fail);
        if (typeof t.expr !== "string" || !t.expr.trim()) fail(`${tat}: expr is required`);
        else exprs.push({ at: tat, expr: t.expr, id: p.id, refId: t.refId });
      }
    }
  };
  walk(d.panels, "panels");
  // Every $variable used anywhere is defined.
  for (const m of JSON.stringify(d).matchAll(varRef)) {
    const name = m[1] ?? m[2];
    if (!defined(name)) fail(`$${name} is used but not defined`);
  }
  return exprs;
}

// Grafana's published dashboard type, compiled in strict mode.
function grafanaSchemaCheck(d, modulesDir, fail) {
  const nm = path.join(modulesDir, "node_modules");
  const tsc = path.join(nm, "typescript", "bin", "tsc");
  const pkg = path.join(nm, "@grafana", "schema");
  if (!fs.existsSync(tsc) || !fs.existsSync(pkg)) return fail(`typescript or @grafana/schema missing in ${nm}: run tests/deploy/npm-ci.sh`);
  const { defaultDashboard } = createRequire(path.join(nm, "_"))("@grafana/schema");
  const version = JSON.parse(fs.readFileSync(path.join(pkg, "package.json"), "utf8")).version;
  if (defaultDashboard.schemaVersion !== d.schemaVersion)
    return fail(`the dashboard declares schemaVersion ${d.schemaVersion}, @grafana/schema ${version} describes ${defaultDashboard.schemaVersion}: move one to the other`);
  const dir = fs.mkdtempSync(path.join(modulesDir, ".dashboard-check-"));
  try {
    fs.writeFileSync(path.join(dir, "check.ts"),
      `import type { Dashboard } from "@grafana/schema";\nexport const dashboard: Dashboard = ${JSON.stringify(d, null, 1)};\n`);
    fs.writeFileSync(path.join(dir, "tsconfig.json"), JSON.stringify({
      compilerOptions: { strict: true, noEmit: true, target: "es2022", module: "esnext", moduleResolution: "bundler", skipLibCheck: true, types: [] },
      files: ["check.ts"],
    }));
    execFileSync(process.execPath, [tsc, "-p", dir], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  } catch (e) {
    fail(`not a Dashboard of @grafana/schema ${version} (schemaVersion ${defaultDashboard.schemaVersion}):\n${(e.stdout ?? "") + (e.stderr ?? "")}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export function observabilityCheck(objs, label, ctx) {
  const { fail, setWhere } = ctx;
  const known = exportedSeries();
  const rules = objs.filter((o) => ruleKinds.has(`${o.apiVersion} ${o.kind}`));
  if (!rules.length) {
    setWhere(label);
    fail("no rule objects in the render");
  }
  for (const o of rules) {
    setWhere(`${label} ${o.kind}/${o.metadata?.name}`);
    promtool(o.spec?.groups ?? [], `${o.kind}/${o.metadata?.name}`, fail);
    for (const g of o.spec?.groups ?? [])
      for (const r of g.rules ?? []) {
        seriesCheck(r.expr ?? "", known, r.alert ?? r.record, fail);
        const cm = /pubsub_googleapis_com:/.test(r.expr ?? "");
        if (o.kind === "Rules" && cm) fail(`${r.alert}: Rules only sees its namespace; Cloud Monitoring metrics need GlobalRules`);
        if (o.kind === "GlobalRules" && !cm) fail(`${r.alert}: belongs in the namespaced Rules (it reads no Cloud Monitoring metric)`);
      }
  }
  const cms = objs.filter((o) => o.kind === "ConfigMap" && o.metadata?.labels?.grafana_dashboard === "1");
  setWhere(label);
  if (cms.length !== 1) return fail(`want 1 ConfigMap labelled grafana_dashboard: "1", found ${cms.length}`);
  for (const [key, text] of Object.entries(cms[0].data ?? {})) {
    setWhere(`${label} ConfigMap/${cms[0].metadata.name} ${key}`);
    if (!key.endsWith(".json")) fail("the sidecar loads *.json keys only");
    let d;
    try {
      d = JSON.parse(text);
    } catch (e) {
      fail(`not JSON: ${e.message}`);
      continue;
    }
    const exprs = dashboardCheck(d, fail) ?? [];
    grafanaSchemaCheck(d, ctx.modulesDir, fail);
    const groups = [{ name: "dashboard", rules: [] }];
    for (const e of exprs) {
      seriesCheck(e.expr, known, e.at, fail);
      const concrete = e.expr.replace(varRef, (m, a, b) => SUBSTITUTE[a ?? b] ?? m);
      if (varRef.test(concrete)) fail(`${e.at}: no concrete value for a variable in ${concrete}`);
      varRef.lastIndex = 0;
      groups[0].rules.push({ record: `wiggly_dashboard:panel${e.id}_${e.refId}`, expr: concrete });
    }
    if (!exprs.length) fail("no expressions in the dashboard");
    promtool(groups, `dashboard ${key} (${exprs.length} expressions)`, fail);
  }
}
