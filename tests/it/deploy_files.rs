//! The deployment files stay true to the service they deploy.
//!
//! Every YAML/JSON file under `deploy/` and `docker-compose.yml` parses; the compose stack, the
//! Kubernetes manifests and the alert rules carry what operations rely on; every
//! `leadback_bridge_*` metric the dashboard, the alert rules and the runbook name is one a
//! running bridge really exports (scraped from its `/metrics`, not read from the source); and
//! `promtool` accepts the rules, their unit tests and the dashboard's queries when it is
//! installed (CI installs it).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use crate::support;

use serde_json::Value as Json;
use serde_norway::Value as Yaml;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use support::{Backend, World};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    let path = root().join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every file under `dir`, recursively, sorted.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

fn has_ext(path: &Path, exts: &[&str]) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| exts.contains(&e))
}

/// The YAML and JSON files this test is about: `deploy/**` and `docker-compose.yml`.
fn config_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = walk(&root().join("deploy"))
        .into_iter()
        .filter(|p| has_ext(p, &["yml", "yaml", "json"]))
        .collect();
    files.push(root().join("docker-compose.yml"));
    files
}

/// All documents of a (multi-document) YAML file, with `<<` merge keys applied.
fn yaml_documents(path: &Path) -> Vec<Yaml> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut docs = Vec::new();
    for de in serde_norway::Deserializer::from_str(&text) {
        let mut doc: Yaml = serde::Deserialize::deserialize(de)
            .unwrap_or_else(|e| panic!("{} is not valid YAML: {e}", path.display()));
        doc.apply_merge()
            .unwrap_or_else(|e| panic!("{}: bad merge key: {e}", path.display()));
        if !doc.is_null() {
            docs.push(doc);
        }
    }
    docs
}

fn yaml(rel: &str) -> Yaml {
    let mut docs = yaml_documents(&root().join(rel));
    assert_eq!(docs.len(), 1, "{rel}: expected one YAML document");
    docs.remove(0)
}

fn json(rel: &str) -> Json {
    serde_json::from_str(&read(rel)).unwrap_or_else(|e| panic!("{rel} is not valid JSON: {e}"))
}

fn s(v: &Yaml) -> &str {
    v.as_str()
        .unwrap_or_else(|| panic!("expected a string, got {v:?}"))
}

/// `BRIDGE_*` variables the README's configuration table documents.
fn documented_env_vars() -> BTreeSet<String> {
    read("README.md")
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .filter(|v| v.starts_with("BRIDGE_") || *v == "RUST_LOG")
        .map(str::to_owned)
        .collect()
}

/// Every `leadback_bridge_*` identifier in `text`.
fn metric_references(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let bytes = text.as_bytes();
    let needle = "leadback_bridge_";
    let mut from = 0;
    while let Some(pos) = text[from..].find(needle) {
        let start = from + pos;
        let preceded_by_ident = start > 0 && is_ident(bytes[start - 1]);
        let mut end = start + needle.len();
        while end < bytes.len() && is_ident(bytes[end]) {
            end += 1;
        }
        // A bare prefix (`leadback_bridge_*` in prose) names no metric.
        if !preceded_by_ident && end > start + needle.len() {
            found.insert(text[start..end].to_owned());
        }
        from = end;
    }
    found
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'
}

/// What a scrape exposes: metric family names (`# TYPE`) and sample names (with `_bucket`,
/// `_sum`, `_count` for histograms, as PromQL must spell them).
#[derive(Default, Debug)]
struct Exposition {
    families: BTreeMap<String, String>,
    samples: BTreeSet<String>,
}

fn parse_exposition(text: &str) -> Exposition {
    let mut exp = Exposition::default();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split_whitespace();
            if let (Some(name), Some(kind)) = (parts.next(), parts.next()) {
                exp.families.insert(name.to_owned(), kind.to_owned());
            }
        } else if !line.starts_with('#') && !line.trim().is_empty() {
            let name: String = line
                .chars()
                .take_while(|c| *c != '{' && *c != ' ')
                .collect();
            exp.samples.insert(name);
        }
    }
    exp
}

impl Exposition {
    /// A family name, with the histogram suffix stripped from a sample name.
    fn family_of(&self, sample: &str) -> Option<&str> {
        if self.families.contains_key(sample) {
            return self.families.get_key_value(sample).map(|(k, _)| k.as_str());
        }
        ["_bucket", "_sum", "_count"].iter().find_map(|suffix| {
            let base = sample.strip_suffix(suffix)?;
            match self.families.get_key_value(base) {
                Some((k, kind)) if kind == "histogram" || kind == "summary" => Some(k.as_str()),
                _ => None,
            }
        })
    }
}

/// GitHub's anchor of a Markdown heading.
fn github_slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

fn runbook_anchors() -> BTreeSet<String> {
    let mut anchors = BTreeSet::new();
    let mut in_code = false;
    for line in read("docs/runbook.md").lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code {
            continue;
        }
        let hashes = line.chars().take_while(|c| *c == '#').count();
        if (1..=6).contains(&hashes) && line[hashes..].starts_with(' ') {
            anchors.insert(github_slug(&line[hashes..]));
        }
    }
    anchors
}

fn alert_rules() -> Vec<Yaml> {
    let doc = yaml("deploy/prometheus/alerts.yml");
    doc["groups"]
        .as_sequence()
        .expect("groups")
        .iter()
        .flat_map(|g| g["rules"].as_sequence().expect("rules").clone())
        .collect()
}

fn promtool() -> Option<PathBuf> {
    let found = Command::new("promtool").arg("--version").output().ok()?;
    found.status.success().then(|| PathBuf::from("promtool"))
}

fn run_promtool(args: &[&str], dir: &Path) {
    let out = Command::new("promtool")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("promtool runs");
    assert!(
        out.status.success(),
        "promtool {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every PromQL expression of the dashboard, with Grafana's variables replaced.
fn dashboard_queries() -> Vec<(String, String)> {
    let dash = json("deploy/grafana/dashboards/leadback-bridge.json");
    let mut out = Vec::new();
    for panel in dash["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"].as_str().expect("target expr");
            let title = panel["title"].as_str().unwrap_or_default().to_owned();
            let expr = expr
                .replace("$__rate_interval", "5m")
                .replace("$__interval", "1m")
                .replace("$namespace", ".*")
                .replace("$role", ".*")
                .replace("$tenant", ".*");
            out.push((title, expr));
        }
    }
    out
}

#[test]
fn every_yaml_and_json_file_parses() {
    let files = config_files();
    for must in [
        "docker-compose.yml",
        "deploy/prometheus/prometheus.yml",
        "deploy/prometheus/alerts.yml",
        "deploy/prometheus/alerts.test.yml",
        "deploy/grafana/provisioning/datasources/prometheus.yml",
        "deploy/grafana/provisioning/dashboards/leadback-bridge.yml",
        "deploy/grafana/dashboards/leadback-bridge.json",
        "deploy/kubernetes/ingress-deployment.yaml",
        "deploy/kubernetes/worker-deployment.yaml",
    ] {
        assert!(files.contains(&root().join(must)), "{must} is missing");
    }
    for path in &files {
        if has_ext(path, &["json"]) {
            let text = std::fs::read_to_string(path).unwrap();
            let value: Json = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{} is not valid JSON: {e}", path.display()));
            assert!(value.is_object(), "{}: not a JSON object", path.display());
        } else {
            let docs = yaml_documents(path);
            assert!(!docs.is_empty(), "{}: no YAML document", path.display());
            for doc in docs {
                assert!(
                    doc.is_mapping(),
                    "{}: a document is not a mapping",
                    path.display()
                );
            }
        }
    }
}

#[test]
fn compose_runs_the_scaled_out_stack() {
    let compose = yaml("docker-compose.yml");
    let services = compose["services"].as_mapping().expect("services");
    for name in [
        "rabbitmq",
        "postgres",
        "migrate",
        "ingress",
        "worker",
        "comagic-emulator",
        "prometheus",
        "grafana",
    ] {
        assert!(services.contains_key(name), "service {name} missing");
    }
    let svc = |name: &str| &compose["services"][name];
    assert!(s(&svc("rabbitmq")["image"]).starts_with("rabbitmq:3.13-management"));
    assert!(svc("rabbitmq")["ports"]
        .as_sequence()
        .unwrap()
        .iter()
        .any(|p| s(p).ends_with(":15672")));
    assert!(s(&svc("postgres")["image"]).starts_with("postgres:16"));

    let documented = documented_env_vars();
    for (name, role) in [
        ("migrate", "migrate"),
        ("ingress", "ingress"),
        ("worker", "worker"),
    ] {
        let service = svc(name);
        assert_eq!(service["command"][0].as_str(), Some(role), "{name} command");
        let env = service["environment"].as_mapping().expect("environment");
        for key in [
            "BRIDGE_AMQP_URL",
            "BRIDGE_DATABASE_URL",
            "BRIDGE_SECRET_KEY",
            "BRIDGE_ADMIN_TOKEN",
            "BRIDGE_PUBLIC_URL",
        ] {
            assert!(env.contains_key(key), "{name}: {key} not set");
        }
        for key in env.keys() {
            assert!(
                documented.contains(s(key)),
                "{name}: {} is not a documented variable",
                s(key)
            );
        }
        // A dev default for the key, overridable from the environment, 32 bytes of hex.
        let key = s(&env["BRIDGE_SECRET_KEY"]);
        let default = key
            .strip_prefix("${BRIDGE_SECRET_KEY:-")
            .and_then(|k| k.strip_suffix('}'))
            .unwrap_or_else(|| {
                panic!("{name}: BRIDGE_SECRET_KEY has no overridable default: {key}")
            });
        assert_eq!(default.len(), 64);
        assert!(default.chars().all(|c| c.is_ascii_hexdigit()));
    }
    assert_eq!(svc("ingress")["deploy"]["replicas"].as_u64(), Some(2));
    assert_eq!(svc("worker")["deploy"]["replicas"].as_u64(), Some(2));
    assert_eq!(
        svc("migrate")["depends_on"]["postgres"]["condition"].as_str(),
        Some("service_healthy")
    );
    assert_eq!(
        svc("worker")["depends_on"]["migrate"]["condition"].as_str(),
        Some("service_completed_successfully")
    );
    let emulator = svc("comagic-emulator");
    assert_eq!(emulator["entrypoint"][0].as_str(), Some("comagic-emulator"));
    let args: Vec<&str> = emulator["command"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(s)
        .collect();
    assert_eq!(args, ["--listen", "0.0.0.0:8088"]);

    // Mounted files exist.
    for name in ["prometheus", "grafana", "ingress"] {
        for volume in svc(name)["volumes"].as_sequence().unwrap() {
            let host = s(volume).split(':').next().unwrap();
            if host.starts_with("./") {
                assert!(root().join(host).exists(), "{name} mounts missing {host}");
            }
        }
    }

    // Prometheus scrapes both roles' metrics port and loads the alert rules.
    let prom = yaml("deploy/prometheus/prometheus.yml");
    assert_eq!(
        prom["rule_files"][0].as_str(),
        Some("/etc/prometheus/alerts.yml")
    );
    let scraped: BTreeSet<String> = prom["scrape_configs"]
        .as_sequence()
        .unwrap()
        .iter()
        .flat_map(|job| {
            job["dns_sd_configs"]
                .as_sequence()
                .cloned()
                .unwrap_or_default()
        })
        .filter(|sd| sd["port"].as_u64() == Some(9090))
        .flat_map(|sd| sd["names"].as_sequence().cloned().unwrap_or_default())
        .map(|n| s(&n).to_owned())
        .collect();
    assert_eq!(
        scraped,
        BTreeSet::from(["ingress".to_owned(), "worker".to_owned()])
    );

    // Grafana: every panel reads the `$datasource` variable (no hard-coded uid), which offers
    // the provisioned Prometheus.
    let ds = yaml("deploy/grafana/provisioning/datasources/prometheus.yml");
    assert_eq!(ds["datasources"][0]["type"].as_str(), Some("prometheus"));
    let dash = json("deploy/grafana/dashboards/leadback-bridge.json");
    for panel in dash["panels"].as_array().unwrap() {
        if panel["type"] != "row" {
            assert_eq!(
                panel["datasource"]["uid"], "${datasource}",
                "panel {}",
                panel["title"]
            );
        }
    }
    assert!(
        !read("deploy/grafana/dashboards/leadback-bridge.json").contains("\"uid\": \"prometheus\""),
        "a hard-coded datasource uid is left in the dashboard"
    );

    // The bridge services are checked by the image's healthcheck; Grafana waits for Prometheus.
    for name in ["ingress", "worker"] {
        assert_eq!(
            svc(name)["healthcheck"]["test"],
            Yaml::from(vec!["CMD", "leadback-bridge", "healthcheck"]),
            "{name} healthcheck"
        );
        for dep in ["rabbitmq", "postgres"] {
            assert_eq!(
                svc(name)["depends_on"][dep]["condition"].as_str(),
                Some("service_healthy"),
                "{name} waits for a healthy {dep}"
            );
        }
    }
    assert!(svc("rabbitmq")["healthcheck"]["test"].is_sequence());
    assert_eq!(
        svc("grafana")["depends_on"]["prometheus"]["condition"].as_str(),
        Some("service_healthy")
    );
    assert!(svc("prometheus")["healthcheck"]["test"].is_sequence());
    // The emulator shares the image but is not a bridge: the image's check is off for it.
    assert_eq!(
        svc("comagic-emulator")["healthcheck"]["disable"].as_bool(),
        Some(true)
    );
    let provider = yaml("deploy/grafana/provisioning/dashboards/leadback-bridge.yml");
    assert_eq!(
        provider["providers"][0]["options"]["path"].as_str(),
        Some("/etc/grafana/dashboards")
    );
}

#[test]
fn dockerfile_builds_both_binaries_and_runs_unprivileged() {
    let docker = read("Dockerfile");
    // Every base image pinned by digest.
    let from_args: BTreeMap<&str, &str> = docker
        .lines()
        .filter_map(|l| l.strip_prefix("ARG "))
        .filter_map(|l| l.split_once('='))
        .collect();
    let mut bases = 0;
    for line in docker.lines().filter(|l| l.starts_with("FROM ")) {
        let image = line.split_whitespace().nth(1).unwrap();
        let image = image
            .strip_prefix("${")
            .and_then(|v| v.strip_suffix('}'))
            .map(|arg| from_args[arg])
            .unwrap_or(image);
        if ["chef", "planner", "build"].contains(&image) {
            continue; // an earlier stage
        }
        bases += 1;
        let digest = image
            .split_once("@sha256:")
            .map(|(_, d)| d)
            .unwrap_or_else(|| panic!("{image} is not pinned by digest"));
        assert_eq!(digest.len(), 64, "{image}");
        assert!(digest.chars().all(|c| c.is_ascii_hexdigit()), "{image}");
    }
    assert_eq!(bases, 2, "a build and a runtime base image");
    assert!(from_args["RUST_IMAGE"].starts_with("rust:1.89-"));
    for needle in [
        "cargo chef prepare --recipe-path recipe.json",
        "cargo chef cook --release --locked --recipe-path recipe.json",
        "HEALTHCHECK",
        "CMD [\"leadback-bridge\", \"healthcheck\"]",
        "ENV LEADBACK_BRIDGE_COMMIT=${GIT_COMMIT}",
        "cargo build --release --locked",
        "--package leadback-bridge --bin leadback-bridge",
        "--package comagic-emulator --bin comagic-emulator",
        "FROM ${RUNTIME_IMAGE} AS runtime",
        "ca-certificates",
        "--uid 10001",
        "USER 10001:10001",
        "BRIDGE_DATA_DIR=/data",
        "BRIDGE_LISTEN=0.0.0.0:8080",
        "BRIDGE_METRICS_LISTEN=0.0.0.0:9090",
        "VOLUME [\"/data\"]",
        "EXPOSE 8080 9090",
        "ENTRYPOINT [\"leadback-bridge\"]",
        "CMD [\"serve\"]",
    ] {
        assert!(docker.contains(needle), "Dockerfile lacks {needle}");
    }
    let ignore: BTreeSet<String> = read(".dockerignore")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect();
    for needle in ["target*", "data", ".git"] {
        assert!(ignore.contains(needle), ".dockerignore lacks {needle}");
    }
}

#[test]
fn kubernetes_manifests_are_consistent() {
    let mut by_kind: BTreeMap<String, Vec<Yaml>> = BTreeMap::new();
    for path in walk(&root().join("deploy/kubernetes")) {
        for doc in yaml_documents(&path) {
            let kind = s(&doc["kind"]).to_owned();
            assert!(
                doc["apiVersion"].is_string(),
                "{}: apiVersion",
                path.display()
            );
            if kind != "Kustomization" && kind != "Component" {
                assert!(
                    doc["metadata"]["name"].is_string(),
                    "{}: metadata.name",
                    path.display()
                );
            }
            by_kind.entry(kind).or_default().push(doc);
        }
    }
    let named = |kind: &str| -> BTreeMap<String, Yaml> {
        by_kind
            .get(kind)
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .map(|d| (s(&d["metadata"]["name"]).to_owned(), d))
            .collect()
    };
    let config_maps = named("ConfigMap");
    let secrets = named("Secret");
    let deployments = named("Deployment");
    let jobs = named("Job");
    let documented = documented_env_vars();

    let config = &config_maps["leadback-bridge-config"];
    for key in config["data"].as_mapping().unwrap().keys() {
        assert!(
            documented.contains(s(key)),
            "ConfigMap: {} is not documented",
            s(key)
        );
    }
    let secret = &secrets["leadback-bridge-secrets"];
    for key in [
        "BRIDGE_SECRET_KEY",
        "BRIDGE_ADMIN_TOKEN",
        "BRIDGE_AMQP_URL",
        "BRIDGE_DATABASE_URL",
    ] {
        assert!(secret["stringData"][key].is_string(), "Secret lacks {key}");
        assert!(
            config["data"].get(key).is_none(),
            "{key} must not be in the ConfigMap"
        );
    }
    let grace: u64 = s(&config["data"]["BRIDGE_SHUTDOWN_GRACE_SECS"])
        .parse()
        .unwrap();

    let check_pod = |what: &str, spec: &Yaml| {
        assert_eq!(
            spec["securityContext"]["runAsNonRoot"].as_bool(),
            Some(true),
            "{what}: runAsNonRoot"
        );
        let container = &spec["containers"][0];
        assert!(
            container["resources"]["requests"]["cpu"].is_string(),
            "{what}: cpu request"
        );
        assert!(
            container["resources"]["requests"]["memory"].is_string(),
            "{what}: memory"
        );
        assert!(
            container["resources"]["limits"]["memory"].is_string(),
            "{what}: memory limit"
        );
        for source in container["envFrom"].as_sequence().expect("envFrom") {
            if let Some(name) = source["configMapRef"]["name"].as_str() {
                assert!(
                    config_maps.contains_key(name),
                    "{what}: no ConfigMap {name}"
                );
            }
            if let Some(name) = source["secretRef"]["name"].as_str() {
                assert!(secrets.contains_key(name), "{what}: no Secret {name}");
            }
        }
    };

    for (name, role) in [
        ("leadback-bridge-ingress", "ingress"),
        ("leadback-bridge-worker", "worker"),
    ] {
        let d = deployments
            .get(name)
            .unwrap_or_else(|| panic!("Deployment {name}"));
        let spec = &d["spec"]["template"]["spec"];
        check_pod(name, spec);
        let container = &spec["containers"][0];
        assert_eq!(container["args"][0].as_str(), Some(role), "{name} args");
        assert_eq!(
            container["livenessProbe"]["httpGet"]["path"].as_str(),
            Some("/healthz")
        );
        assert_eq!(
            container["readinessProbe"]["httpGet"]["path"].as_str(),
            Some("/readyz")
        );
        let ports: BTreeMap<&str, u64> = container["ports"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|p| (s(&p["name"]), p["containerPort"].as_u64().unwrap()))
            .collect();
        assert_eq!(ports.get("http"), Some(&8080));
        assert_eq!(ports.get("metrics"), Some(&9090));
        assert_eq!(
            container["livenessProbe"]["httpGet"]["port"].as_str(),
            Some("http")
        );
        let termination = spec["terminationGracePeriodSeconds"].as_u64().unwrap();
        assert!(
            termination > grace,
            "{name}: {termination}s ≤ shutdown grace {grace}s"
        );
        // The pod template's labels satisfy the selector.
        let labels = d["spec"]["template"]["metadata"]["labels"]
            .as_mapping()
            .unwrap();
        for (k, v) in d["spec"]["selector"]["matchLabels"].as_mapping().unwrap() {
            assert_eq!(labels.get(k), Some(v), "{name}: selector {k:?}");
        }
    }
    let job = jobs.get("leadback-bridge-migrate").expect("migrate Job");
    let job_spec = &job["spec"]["template"]["spec"];
    check_pod("migrate Job", job_spec);
    assert_eq!(
        job_spec["containers"][0]["args"][0].as_str(),
        Some("migrate")
    );

    // Each HPA and PDB points at a Deployment (by name / by its pod labels).
    let hpas = named("HorizontalPodAutoscaler");
    let targets: BTreeSet<&str> = hpas
        .values()
        .map(|h| s(&h["spec"]["scaleTargetRef"]["name"]))
        .collect();
    assert_eq!(
        targets,
        BTreeSet::from(["leadback-bridge-ingress", "leadback-bridge-worker"])
    );
    let selects = |selector: &Yaml, deployment: &str| {
        let labels = deployments[deployment]["spec"]["template"]["metadata"]["labels"]
            .as_mapping()
            .unwrap();
        selector
            .as_mapping()
            .unwrap()
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
    };
    for (name, pdb) in named("PodDisruptionBudget") {
        let selector = &pdb["spec"]["selector"]["matchLabels"];
        assert!(
            deployments.keys().any(|d| selects(selector, d)),
            "PDB {name} selects no Deployment"
        );
    }
    let services = named("Service");
    let ingress_svc = &services["leadback-bridge-ingress"];
    assert!(selects(
        &ingress_svc["spec"]["selector"],
        "leadback-bridge-ingress"
    ));
    assert!(!selects(
        &ingress_svc["spec"]["selector"],
        "leadback-bridge-worker"
    ));
    assert_eq!(ingress_svc["spec"]["ports"][0]["port"].as_u64(), Some(8080));
    let metrics_svc = &services["leadback-bridge-metrics"];
    assert!(selects(
        &metrics_svc["spec"]["selector"],
        "leadback-bridge-worker"
    ));
    assert_eq!(metrics_svc["spec"]["ports"][0]["port"].as_u64(), Some(9090));

    // Every kustomization (and component) lists files that exist, relative to itself.
    for (path, doc) in kubernetes_documents() {
        if !matches!(doc["kind"].as_str(), Some("Kustomization" | "Component")) {
            continue;
        }
        let dir = path.parent().unwrap();
        for resource in doc["resources"].as_sequence().unwrap() {
            let listed = dir.join(s(resource));
            assert!(
                listed.exists(),
                "{} lists missing {}",
                path.display(),
                listed.display()
            );
        }
    }
}

/// Every document under deploy/kubernetes with the file it came from.
fn kubernetes_documents() -> Vec<(PathBuf, Yaml)> {
    walk(&root().join("deploy/kubernetes"))
        .into_iter()
        .filter(|p| has_ext(p, &["yaml", "yml"]))
        .flat_map(|p| yaml_documents(&p).into_iter().map(move |d| (p.clone(), d)))
        .collect()
}

fn of_kind(kind: &str) -> Vec<Yaml> {
    kubernetes_documents()
        .into_iter()
        .map(|(_, d)| d)
        .filter(|d| d["kind"].as_str() == Some(kind))
        .collect()
}

fn one_named(kind: &str, name: &str) -> Yaml {
    of_kind(kind)
        .into_iter()
        .find(|d| d["metadata"]["name"].as_str() == Some(name))
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

#[test]
fn kubernetes_autoscaled_workloads_leave_replicas_to_their_autoscaler() {
    // What an HPA or a KEDA ScaledObject scales.
    let mut scaled: BTreeSet<String> = BTreeSet::new();
    for hpa in of_kind("HorizontalPodAutoscaler") {
        scaled.insert(s(&hpa["spec"]["scaleTargetRef"]["name"]).to_owned());
    }
    let scaled_objects = of_kind("ScaledObject");
    for so in &scaled_objects {
        scaled.insert(s(&so["spec"]["scaleTargetRef"]["name"]).to_owned());
    }
    assert!(
        scaled.contains("leadback-bridge-ingress") && scaled.contains("leadback-bridge-worker")
    );
    for deployment in of_kind("Deployment") {
        let name = s(&deployment["metadata"]["name"]);
        if scaled.contains(name) {
            assert!(
                deployment["spec"].get("replicas").is_none(),
                "{name}: `replicas` under an autoscaler resets the scale on every apply"
            );
        }
    }
    // The ingress scales on CPU.
    let ingress = one_named("HorizontalPodAutoscaler", "leadback-bridge-ingress");
    assert_eq!(
        ingress["spec"]["metrics"][0]["resource"]["name"].as_str(),
        Some("cpu")
    );
    // The worker, in the KEDA component, on the RabbitMQ main queue's depth; the component
    // removes the CPU autoscaler so the two do not fight.
    let keda = &scaled_objects[0];
    assert_eq!(
        s(&keda["spec"]["scaleTargetRef"]["name"]),
        "leadback-bridge-worker"
    );
    let trigger = &keda["spec"]["triggers"][0];
    assert_eq!(trigger["type"].as_str(), Some("rabbitmq"));
    assert_eq!(trigger["metadata"]["mode"].as_str(), Some("QueueLength"));
    let config = one_named("ConfigMap", "leadback-bridge-config");
    let prefix = s(&config["data"]["BRIDGE_QUEUE_PREFIX"]);
    assert_eq!(
        trigger["metadata"]["queueName"].as_str(),
        Some(format!("{prefix}.events").as_str()),
        "the main queue's name"
    );
    let auth = one_named(
        "TriggerAuthentication",
        s(&trigger["authenticationRef"]["name"]),
    );
    assert_eq!(
        auth["spec"]["secretTargetRef"][0]["key"].as_str(),
        Some("BRIDGE_AMQP_URL")
    );
    let component = yaml("deploy/kubernetes/components/keda-worker/kustomization.yaml");
    assert_eq!(component["kind"].as_str(), Some("Component"));
    let patch = s(&component["patches"][0]["patch"]);
    assert!(patch.contains("$patch: delete") && patch.contains("name: leadback-bridge-worker"));

    // PDBs let a node drain evict pods that are not ready anyway.
    let pdbs = of_kind("PodDisruptionBudget");
    assert!(!pdbs.is_empty());
    for pdb in pdbs {
        assert_eq!(
            pdb["spec"]["unhealthyPodEvictionPolicy"].as_str(),
            Some("AlwaysAllow"),
            "PDB {}",
            s(&pdb["metadata"]["name"])
        );
    }

    // The pods check the schema; the migrate Job migrates, and each release can run it again.
    assert_eq!(config["data"]["BRIDGE_MIGRATE"].as_str(), Some("off"));
    assert!(config["data"]["BRIDGE_DATABASE_MAX_CONNECTIONS"].is_string());
    let job = one_named("Job", "leadback-bridge-migrate");
    let annotations = &job["metadata"]["annotations"];
    assert_eq!(
        annotations["argocd.argoproj.io/hook"].as_str(),
        Some("PreSync")
    );
    assert_eq!(
        annotations["helm.sh/hook-delete-policy"].as_str(),
        Some("before-hook-creation")
    );
    assert!(job["spec"]["ttlSecondsAfterFinished"].as_u64().is_some());
}

#[test]
fn kubernetes_monitoring_network_policy_and_embedded_mode() {
    // ServiceMonitor and PrometheusRule, as a component.
    let component = yaml("deploy/kubernetes/components/monitoring/kustomization.yaml");
    assert_eq!(component["kind"].as_str(), Some("Component"));
    let monitor = one_named("ServiceMonitor", "leadback-bridge");
    let metrics_service = one_named("Service", "leadback-bridge-metrics");
    for (k, v) in monitor["spec"]["selector"]["matchLabels"]
        .as_mapping()
        .unwrap()
    {
        assert_eq!(
            metrics_service["metadata"]["labels"].get(k),
            Some(v),
            "the ServiceMonitor selects the metrics Service"
        );
    }
    assert_eq!(
        monitor["spec"]["endpoints"][0]["port"].as_str(),
        Some("metrics")
    );
    // The alerts' job matcher and the dashboard's role variable need these labels.
    let relabeled: BTreeSet<&str> = monitor["spec"]["endpoints"][0]["relabelings"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|r| s(&r["targetLabel"]))
        .collect();
    assert_eq!(relabeled, BTreeSet::from(["job", "role"]));
    // The PrometheusRule carries exactly the rules of alerts.yml.
    let rule = one_named("PrometheusRule", "leadback-bridge");
    assert_eq!(
        rule["spec"]["groups"],
        yaml("deploy/prometheus/alerts.yml")["groups"],
        "components/monitoring/prometheusrule.yaml differs from deploy/prometheus/alerts.yml"
    );

    // The NetworkPolicy covers every bridge pod and opens the webhook port to all.
    let policy = one_named("NetworkPolicy", "leadback-bridge");
    assert_eq!(
        policy["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/name"].as_str(),
        Some("leadback-bridge")
    );
    let rules = policy["spec"]["ingress"].as_sequence().unwrap();
    assert!(rules
        .iter()
        .any(|r| r.get("from").is_none() && r["ports"][0]["port"].as_str() == Some("http")));
    assert!(rules
        .iter()
        .any(|r| r.get("from").is_some() && r["ports"][0]["port"].as_str() == Some("metrics")));

    // The embedded mode: one `serve` pod with a volume for its data folder.
    let embedded = one_named("StatefulSet", "leadback-bridge-embedded");
    assert_eq!(embedded["spec"]["replicas"].as_u64(), Some(1));
    let container = &embedded["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["args"][0].as_str(), Some("serve"));
    let claim = s(&embedded["spec"]["volumeClaimTemplates"][0]["metadata"]["name"]);
    assert!(container["volumeMounts"]
        .as_sequence()
        .unwrap()
        .iter()
        .any(|m| s(&m["name"]) == claim && s(&m["mountPath"]) == "/data"));
    assert!(container["env"]
        .as_sequence()
        .unwrap()
        .iter()
        .any(|e| s(&e["name"]) == "BRIDGE_DATA_DIR" && s(&e["value"]) == "/data"));

    // And the same on a plain host: a systemd unit with a state directory.
    let unit = read("deploy/systemd/leadback-bridge.service");
    for needle in [
        "[Service]",
        "ExecStart=/usr/local/bin/leadback-bridge serve",
        "StateDirectory=leadback-bridge",
        "Environment=BRIDGE_DATA_DIR=/var/lib/leadback-bridge",
        "KillSignal=SIGTERM",
        "[Install]",
    ] {
        assert!(unit.contains(needle), "the systemd unit lacks {needle}");
    }
}

/// The documented base of every alert's runbook link.
const RUNBOOK_BASE: &str = "https://github.com/leadback/leadback-bridge/blob/main/docs/runbook.md";

#[test]
fn dashboard_has_datasource_namespace_and_role_variables_and_one_unit_per_panel() {
    let dash = json("deploy/grafana/dashboards/leadback-bridge.json");
    let variables: BTreeMap<&str, &Json> = dash["templating"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["name"].as_str().unwrap(), v))
        .collect();
    assert_eq!(variables["datasource"]["type"], "datasource");
    assert_eq!(variables["datasource"]["query"], "prometheus");
    for name in ["namespace", "role"] {
        let query = variables[name]["query"]["query"].as_str().unwrap();
        assert!(query.contains(&format!(", {name})")), "{name}: {query}");
    }
    for panel in dash["panels"].as_array().unwrap() {
        if panel["type"] == "row" {
            continue;
        }
        let title = panel["title"].as_str().unwrap();
        // One unit per panel: no per-series unit override mixing rates and seconds.
        assert!(
            panel["fieldConfig"]["defaults"]["unit"].is_string(),
            "{title}: no unit"
        );
        let overrides = panel["fieldConfig"]["overrides"].as_array();
        assert!(
            !overrides.into_iter().flatten().any(|o| o["properties"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|p| p["id"] == "unit")),
            "{title}: a second unit"
        );
        let exprs: Vec<&str> = panel["targets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["expr"].as_str().unwrap())
            .collect();
        let quantiles = exprs
            .iter()
            .filter(|e| e.contains("histogram_quantile"))
            .count();
        assert!(
            quantiles == 0 || quantiles == exprs.len(),
            "{title}: latencies and rates on one axis"
        );
        for expr in exprs {
            if expr.contains("leadback_bridge_") {
                assert!(
                    expr.contains("namespace=~\"$namespace\"") && expr.contains("role=~\"$role\""),
                    "{title}: not filtered by namespace and role: {expr}"
                );
            }
        }
    }
    let titles: Vec<&str> = dash["panels"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["title"].as_str())
        .collect();
    assert!(titles.contains(&"End-to-end latency"));
    let table = dash["panels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["type"] == "table")
        .expect("the per-tenant health table");
    let table_exprs = table["targets"].to_string();
    assert!(table_exprs.contains("sum by (tenant)"));
    assert!(table_exprs.contains("leadback_bridge_tenant_deliveries_total"));
}

#[test]
fn alerts_link_absolute_runbook_urls_and_watch_for_absent_targets() {
    let rules = alert_rules();
    for rule in &rules {
        let url = s(&rule["annotations"]["runbook_url"]);
        assert!(
            url.starts_with(&format!("{RUNBOOK_BASE}#")),
            "{}: {url} is not under the documented base",
            s(&rule["alert"])
        );
    }
    assert!(
        read("docs/runbook.md").contains(RUNBOOK_BASE),
        "docs/runbook.md does not document the runbook URL base"
    );
    let absent = rules
        .iter()
        .find(|r| s(&r["expr"]).trim().starts_with("absent(up"))
        .expect("an absent(up) rule");
    assert_eq!(s(&absent["labels"]["severity"]), "critical");
}

#[test]
fn openapi_documents_every_endpoint_and_status() {
    let api = json("docs/openapi.json");
    let paths = api["paths"].as_object().expect("paths");
    let statuses = |path: &str, method: &str| -> BTreeSet<String> {
        paths
            .get(path)
            .unwrap_or_else(|| panic!("openapi.json lacks {path}"))[method]["responses"]
            .as_object()
            .unwrap_or_else(|| panic!("{method} {path}: no responses"))
            .keys()
            .cloned()
            .collect()
    };
    let webhook = statuses("/hooks/leadback/{token}", "post");
    for status in [
        "200", "400", "403", "404", "408", "413", "429", "500", "503",
    ] {
        assert!(
            webhook.contains(status),
            "POST webhook lacks {status}: {webhook:?}"
        );
    }
    assert!(statuses("/healthz", "get").contains("200"));
    let ready = statuses("/readyz", "get");
    assert!(ready.contains("200") && ready.contains("503"));
}

#[test]
fn alerts_carry_severity_summary_and_a_runbook_anchor() {
    let anchors = runbook_anchors();
    let rules = alert_rules();
    let names: BTreeSet<&str> = rules.iter().filter_map(|r| r["alert"].as_str()).collect();
    for must in [
        "LeadbackBridgeIngress5xxRatio",
        "LeadbackBridgeDeadLettersGrowing",
        "LeadbackBridgeQueueBacklog",
        "LeadbackBridgeComagicAuthErrors",
        "LeadbackBridgeComagicComponentDisabled",
        "LeadbackBridgeComagicLimitNearlyExhausted",
        "LeadbackBridgeNoDeliveries",
        "LeadbackBridgeDown",
        "LeadbackBridgeAbsent",
    ] {
        assert!(names.contains(must), "alert {must} missing");
    }
    for rule in &rules {
        let name = s(&rule["alert"]);
        let severity = s(&rule["labels"]["severity"]);
        assert!(
            ["critical", "warning", "info"].contains(&severity),
            "{name}: {severity}"
        );
        for key in ["summary", "description", "runbook_url"] {
            assert!(
                rule["annotations"][key]
                    .as_str()
                    .is_some_and(|v| !v.trim().is_empty()),
                "{name}: annotations.{key}"
            );
        }
        let url = s(&rule["annotations"]["runbook_url"]);
        let anchor = url
            .strip_prefix(&format!("{RUNBOOK_BASE}#"))
            .unwrap_or_else(|| panic!("{name}: runbook_url {url} is not {RUNBOOK_BASE}#…"));
        assert!(
            anchors.contains(anchor),
            "{name}: docs/runbook.md has no heading #{anchor}"
        );
    }
    // The runbook covers the operator commands and every dead-letter class.
    let runbook = read("docs/runbook.md");
    let commands = [
        "leadback-bridge dlq list",
        "leadback-bridge dlq show",
        "leadback-bridge dlq replay",
        "leadback-bridge dlq purge",
        "tenants rotate-token",
        "tenants update",
    ];
    let classes = support::process::DEAD_LETTER_CLASSES;
    support::process::assert_mentions("docs/runbook.md", &runbook, &commands);
    support::process::assert_mentions("docs/runbook.md", &runbook, classes);
}

#[test]
fn promtool_accepts_rules_unit_tests_and_dashboard_queries() {
    if promtool().is_none() {
        println!(
            "note: promtool not installed; skipping `promtool check/test rules` (CI installs it)"
        );
        return;
    }
    let dir = root().join("deploy/prometheus");
    run_promtool(&["check", "rules", "alerts.yml"], &dir);
    run_promtool(&["test", "rules", "alerts.test.yml"], &dir);

    // promtool has no query checker of its own: wrap each dashboard query in a recording rule.
    let queries = dashboard_queries();
    assert!(!queries.is_empty());
    let rules: Vec<Json> = queries
        .iter()
        .enumerate()
        .map(|(i, (_, expr))| serde_json::json!({"record": format!("dashboard:query_{i}"), "expr": expr}))
        .collect();
    let file = serde_json::json!({"groups": [{"name": "dashboard", "rules": rules}]});
    let tmp = tempfile::tempdir().unwrap();
    // JSON is YAML, so promtool reads it as a rules file.
    std::fs::write(tmp.path().join("dashboard.yml"), file.to_string()).unwrap();
    run_promtool(&["check", "rules", "dashboard.yml"], tmp.path());

    // The compose stack's Prometheus config, with the rules path it mounts pointed at the file.
    let config = read("deploy/prometheus/prometheus.yml").replace(
        "/etc/prometheus/alerts.yml",
        &dir.join("alerts.yml").display().to_string(),
    );
    std::fs::write(tmp.path().join("prometheus.yml"), config).unwrap();
    run_promtool(&["check", "config", "prometheus.yml"], tmp.path());
}

#[test]
fn dashboard_shows_what_operations_need() {
    let exprs: Vec<String> = dashboard_queries().into_iter().map(|(_, e)| e).collect();
    let all = exprs.join("\n");
    for needle in [
        "rate(leadback_bridge_ingress_requests_total",
        "leadback_bridge_ingress_request_duration_seconds_bucket",
        "leadback_bridge_publish_confirm_duration_seconds_bucket",
        "leadback_bridge_delivery_duration_seconds_bucket",
        "leadback_bridge_end_to_end_latency_seconds_bucket",
        "leadback_bridge_delivery_attempts_total",
        "leadback_bridge_dead_letters_total",
        "queue=\"dead\"",
        "outcome!=\"ok\"",
        "leadback_bridge_comagic_limit_remaining",
        "leadback_bridge_process_resident_memory_bytes",
        "leadback_bridge_process_open_fds",
        "leadback_bridge_process_cpu_seconds_total",
    ] {
        assert!(
            all.contains(needle),
            "the dashboard has no query with {needle}"
        );
    }
    for quantile in ["histogram_quantile(0.5,", "histogram_quantile(0.99,"] {
        assert!(all.contains(quantile), "no {quantile}");
    }
    assert!(all.contains("by (queue)") && all.contains("by (outcome)"));
    assert!(all.contains("by (method, outcome)") && all.contains("by (tenant, window)"));
}

/// The metric names used in deploy/ and the runbook are exported by a running bridge.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metric_names_in_deploy_files_are_exported_by_a_running_bridge() {
    let mut referenced: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut sources: Vec<PathBuf> = config_files();
    sources.push(root().join("docs/runbook.md"));
    for path in &sources {
        let text = std::fs::read_to_string(path).unwrap();
        let rel = path.strip_prefix(root()).unwrap().display().to_string();
        for name in metric_references(&text) {
            referenced.entry(name).or_default().insert(rel.clone());
        }
    }
    assert!(
        referenced.len() >= 10,
        "too few metric references found: {referenced:?}"
    );

    let world = World::start(Backend::Embedded).await;
    let metrics_addr = world.bridge().metrics_addr.expect("metrics listener");
    let (_, url) = world.default_tenant().await;
    // One delivered event (ingress, publish, delivery, CoMagic and latency samples) and one
    // dead letter (dead_letters_total): label-less series only appear once observed.
    let (status, body) = world.post_fixture(&url, "callback-basic.json").await;
    assert_eq!(status, 200, "{body}");
    let unmappable = br#"{"event":"callback","id":"deploy-files-1","name":"Nobody"}"#.to_vec();
    let (status, body) = world.post(&url, "application/json", unmappable).await;
    assert_eq!(status, 200, "{body}");
    world
        .wait_records(Duration::from_secs(30), |r| {
            r.iter().any(|x| x["kind"] == "offline_message")
        })
        .await;
    world.wait_dead_letters(1, Duration::from_secs(30)).await;

    // Scrape until every referenced name shows (depth gauges refresh on a timer).
    let deadline = Instant::now() + Duration::from_secs(30);
    let (exposition, missing) = loop {
        let text = bridge_test_support::http::text(
            world.http.get(format!("http://{metrics_addr}/metrics")),
        )
        .await
        .expect("GET /metrics");
        let exposition = parse_exposition(&text);
        let missing: Vec<String> = referenced
            .iter()
            .filter(|(name, files)| {
                let in_deploy = files.iter().any(|f| f != "docs/runbook.md");
                // PromQL must name real series (`_bucket`, not the histogram family); prose in
                // the runbook may name the family.
                let ok = exposition.samples.contains(*name)
                    || (!in_deploy && exposition.family_of(name).is_some());
                !ok
            })
            .map(|(name, files)| format!("{name} (in {files:?})"))
            .collect();
        if missing.is_empty() || Instant::now() > deadline {
            break (exposition, missing);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    world.stop().await;

    assert!(
        missing.is_empty(),
        "metric names used in deploy/ or docs/runbook.md that the bridge does not export:\n{}\n\
         exported families: {:?}",
        missing.join("\n"),
        exposition.families.keys().collect::<Vec<_>>()
    );
    // And the scrape is really the bridge's: the contract's prefix on every family.
    assert!(exposition
        .families
        .keys()
        .all(|f| f.starts_with("leadback_bridge_")));
}

/// Before any webhook, a fresh bridge already exports every series the alerts and the
/// dashboard read (at zero), except those whose labels only exist once a tenant made a call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn series_used_by_alerts_and_dashboard_exist_before_the_first_event() {
    let mut referenced: BTreeSet<String> = BTreeSet::new();
    for rel in [
        "deploy/prometheus/alerts.yml",
        "deploy/grafana/dashboards/leadback-bridge.json",
    ] {
        referenced.extend(metric_references(&read(rel)));
    }
    // Labelled by a tenant's CoMagic answers: nothing to show before the first call.
    referenced.remove("leadback_bridge_comagic_limit_remaining");
    // Per tenant: zero for the tenants known at start, and this bridge starts with none.
    referenced.remove("leadback_bridge_tenant_deliveries_total");
    let world = World::start(Backend::Embedded).await;
    let metrics_addr = world.bridge().metrics_addr.expect("metrics listener");
    let text =
        bridge_test_support::http::text(world.http.get(format!("http://{metrics_addr}/metrics")))
            .await
            .expect("GET /metrics");
    world.stop().await;
    let exposition = parse_exposition(&text);
    let missing: Vec<&String> = referenced
        .iter()
        .filter(|name| !exposition.samples.contains(*name))
        .collect();
    assert!(
        missing.is_empty(),
        "series missing before the first event (dashboards read \"No data\", rate() alerts see \
         nothing): {missing:?}"
    );
    assert!(text.contains("leadback_bridge_build_info{"));
}

#[test]
fn metric_reference_scanner_finds_whole_names_only() {
    let refs = metric_references(
        "rate(leadback_bridge_a_total[5m]) + x_leadback_bridge_b + leadback_bridge_c_bucket{le=\"1\"} `leadback_bridge_*`",
    );
    assert_eq!(
        refs,
        BTreeSet::from([
            "leadback_bridge_a_total".to_owned(),
            "leadback_bridge_c_bucket".to_owned()
        ])
    );
    let exp = parse_exposition(
        "# HELP h x\n# TYPE leadback_bridge_h histogram\nleadback_bridge_h_bucket{le=\"1\"} 1\n\
         leadback_bridge_h_sum 1\nleadback_bridge_h_count 1\n# TYPE leadback_bridge_c counter\n\
         leadback_bridge_c{a=\"b\"} 2\n",
    );
    assert!(exp.samples.contains("leadback_bridge_h_bucket"));
    assert!(!exp.samples.contains("leadback_bridge_h"));
    assert_eq!(
        exp.family_of("leadback_bridge_h_count"),
        Some("leadback_bridge_h")
    );
    assert_eq!(exp.family_of("leadback_bridge_c_count"), None);
    assert_eq!(github_slug("LeadbackBridgeDown"), "leadbackbridgedown");
    assert_eq!(
        github_slug("Dead letters: replay & purge"),
        "dead-letters-replay--purge"
    );
}
