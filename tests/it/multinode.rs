//! Issue 8: two gateways and two workers share one PostgreSQL; a worker is
//! killed mid-run; every job still ends exactly once and the audit chain holds.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{PgCluster, Server, Stdin, database_in, enclave_bin, text};

/// About 50-100 ms of work, then one output file.
const BUSY: &str = r#"(module
  (import "wasi_snapshot_preview1" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "result.txt")
  (data (i32.const 32) "done\n")
  (func (export "_start") (local $i i32)
    (loop $spin
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      ;; Long enough that a worker is mid-job when the test kills it (jobs got faster
      ;; when fuel metering became opt-in).
      (br_if $spin (i32.lt_u (local.get $i) (i32.const 150000000))))
    ;; preopen fd 4 is /out (3 is /data): open result.txt for writing
    (drop (call $path_open (i32.const 4) (i32.const 0) (i32.const 0) (i32.const 10)
      (i32.const 9) (i64.const 64) (i64.const 64) (i32.const 0) (i32.const 64)))
    (i32.store (i32.const 80) (i32.const 32))
    (i32.store (i32.const 84) (i32.const 5))
    (drop (call $fd_write (i32.load (i32.const 64)) (i32.const 80) (i32.const 1) (i32.const 96)))))"#;

const JOBS: usize = 200;

struct Node {
    child: Child,
    ssh_port: Option<u16>,
    https_port: Option<u16>,
}

impl Node {
    fn start(config: &Path, role: &str) -> Node {
        let mut child = Command::new(enclave_bin())
            .args(["serve", "--role", role, "--config"])
            .arg(config)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start node");
        let stdout = child.stdout.take().expect("stdout");
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut ssh = None;
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let port = |prefix: &str| {
                    line.strip_prefix(prefix)
                        .and_then(|a| a.rsplit(':').next()?.parse::<u16>().ok())
                };
                if let Some(port) = port("ssh listening on ") {
                    ssh = Some(port);
                } else if let Some(port) = port("https listening on ") {
                    let _ = sender.send((ssh, Some(port)));
                } else if line == "worker ready" {
                    let _ = sender.send((None, None));
                }
            }
        });
        let (ssh_port, https_port) = receiver
            .recv_timeout(Duration::from_secs(120))
            .expect("node did not start");
        Node {
            child,
            ssh_port,
            https_port,
        }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

fn write_config(dir: &Path, name: &str, shared: &Path, url: &str) -> std::path::PathBuf {
    let node_dir = dir.join(name);
    std::fs::create_dir_all(&node_dir).expect("node dir");
    let path = node_dir.join("enclave.toml");
    let shared = shared.display();
    std::fs::write(
        &path,
        format!(
            "state_dir = \".\"\nshared_dir = \"{shared}\"\ndatabase_url = \"{url}\"\n\n\
             [ssh]\nlisten = \"127.0.0.1:0\"\nhost_key = \"{shared}/ssh_host_ed25519_key\"\n\n\
             [https]\nlisten = \"127.0.0.1:0\"\ncertificate = \"{shared}/tls/cert.pem\"\nprivate_key = \"{shared}/tls/key.pem\"\n\n\
             [runner]\nworkers = 2\nlease_seconds = 3\n"
        ),
    )
    .expect("write config");
    path
}

#[test]
fn two_gateways_and_two_workers_lose_and_double_run_nothing_when_a_worker_dies() {
    let cluster = PgCluster::ensure();
    let url = database_in(&cluster.dir);
    let mut client = Server::setup_only_with(Some(url.clone()));
    let shared = client.path().to_owned();
    let nodes_dir = tempfile::tempdir().expect("temp dir");
    let configs: Vec<_> = ["gw1", "gw2", "w1", "w2"]
        .iter()
        .map(|name| write_config(nodes_dir.path(), name, &shared, &url))
        .collect();
    let gateways = [
        Node::start(&configs[0], "gateway"),
        Node::start(&configs[1], "gateway"),
    ];
    let mut victim = Node::start(&configs[2], "worker");
    let _survivor = Node::start(&configs[3], "worker");
    let ports: Vec<u16> = gateways
        .iter()
        .map(|g| g.ssh_port.expect("gateway port"))
        .collect();

    // Submit through both gateways from four client threads.
    let module = wat::parse_str(BUSY).expect("WAT");
    let module_path = nodes_dir.path().join("busy.wasm");
    std::fs::write(&module_path, &module).expect("write module");
    let ids: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|thread| {
                let port = ports[thread % 2];
                let (shared, module_path) = (&shared, &module_path);
                scope.spawn(move || {
                    let mut client = Server::bare(tempfile::tempdir().expect("dir"), None);
                    client.ssh_port = port;
                    let key = shared.join("keys/alice");
                    (0..JOBS / 4)
                        .map(|_| {
                            let out = client.ssh_with(
                                &[
                                    "-i",
                                    key.to_str().expect("utf-8"),
                                    "-o",
                                    "IdentitiesOnly=yes",
                                ],
                                "alice",
                                &["submit", "--project", "diabetes-study", "--name", "busy"],
                                Stdin::File(module_path),
                            );
                            assert!(out.status.success(), "submit: {}", text(&out.stderr));
                            text(&out.stdout).trim().to_owned()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("client thread"))
            .collect()
    });
    assert_eq!(ids.len(), JOBS);

    client.ssh_port = ports[0];
    let states = |client: &Server| -> BTreeMap<String, String> {
        let out = client.ssh("alice", &["jobs", "--json"], Stdin::Null);
        let jobs: Value = serde_json::from_slice(&out.stdout).expect("jobs JSON");
        jobs["jobs"]
            .as_array()
            .expect("jobs")
            .iter()
            .map(|j| {
                (
                    j["id"].as_str().unwrap_or_default().to_owned(),
                    j["state"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    };
    // Kill one worker with SIGKILL while it holds running jobs.
    let start = Instant::now();
    loop {
        let finished = states(&client)
            .values()
            .filter(|s| *s == "succeeded")
            .count();
        if finished >= 20 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "jobs are not progressing"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    victim.kill();

    let start = Instant::now();
    let final_states = loop {
        let states = states(&client);
        if states.values().all(|s| s == "succeeded" || s == "failed") {
            break states;
        }
        assert!(
            start.elapsed() < Duration::from_secs(600),
            "jobs stuck: {states:?}"
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(final_states.len(), JOBS, "no job lost");
    for id in &ids {
        assert_eq!(
            final_states.get(id).map(String::as_str),
            Some("succeeded"),
            "job {id}"
        );
    }

    // Exactly one completion per job, the dead worker's jobs recovered, and a gap-free chain.
    let events = client.audit_events();
    let mut finishes: BTreeMap<&str, usize> = BTreeMap::new();
    for event in events.iter().filter(|e| e["action"] == "job.finish") {
        *finishes
            .entry(event["target"].as_str().unwrap_or_default())
            .or_default() += 1;
    }
    assert_eq!(finishes.len(), JOBS);
    assert!(finishes.values().all(|n| *n == 1), "a job completed twice");
    assert!(
        events.iter().any(|e| e["action"] == "job.lease_expired"),
        "the killed worker's jobs were not recovered"
    );
    let seqs: Vec<i64> = events.iter().filter_map(|e| e["seq"].as_i64()).collect();
    assert_eq!(
        seqs,
        (1..=seqs.len() as i64).collect::<Vec<_>>(),
        "audit sequence has gaps"
    );
    let verify = client.enclave(&["audit", "verify"]);
    assert!(verify.status.success(), "{}", text(&verify.stderr));
}

/// Web sessions live in the shared database: a sign-in on one gateway is good on the other,
/// a sign-out on one ends it on both, a TOTP code used on one is refused on the other, and
/// failures on both gateways add up to one account lock.
#[test]
fn web_sessions_codes_and_locks_span_gateways() {
    use crate::web::{Client, code, password};
    let cluster = PgCluster::ensure();
    let url = database_in(&cluster.dir);
    let client = Server::setup_only_with(Some(url.clone()));
    let shared = client.path().to_owned();
    let nodes_dir = tempfile::tempdir().expect("temp dir");
    let gateways: Vec<Node> = ["gw1", "gw2"]
        .iter()
        .map(|name| {
            Node::start(
                &write_config(nodes_dir.path(), name, &shared, &url),
                "gateway",
            )
        })
        .collect();
    let [one, two] = [0, 1].map(|i| gateways[i].https_port.expect("https port"));

    let alice = Client::at(one);
    let signed_in = alice.login(
        "alice",
        &password(&client, "alice"),
        &code(&client, "alice", 0),
    );
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);
    let on_two = alice.clone_to(two);
    assert_eq!(
        on_two.get("/jobs").status,
        200,
        "the session is good on the other gateway"
    );
    let csrf = on_two.get("/").csrf();
    assert_eq!(on_two.post("/logout", &[("csrf", &csrf)]).status, 303);
    assert_eq!(alice.get("/jobs").status, 303, "signed out on both");

    let carol_code = code(&client, "carol", 0);
    let first = Client::at(one).login("carol", &password(&client, "carol"), &carol_code);
    assert_eq!(first.status, 303);
    let replay = Client::at(two).login("carol", &password(&client, "carol"), &carol_code);
    assert_eq!(
        replay.status, 401,
        "a code used on one gateway is spent on both"
    );

    for (i, port) in [one, two, one, two, one].into_iter().enumerate() {
        let reply = Client::at(port).login("bob", "not bob's password", "000000");
        assert_eq!(reply.status, 401, "failure {i}");
    }
    let locked = Client::at(two).login("bob", &password(&client, "bob"), &code(&client, "bob", 0));
    assert_eq!(
        locked.status, 429,
        "five failures across gateways lock the account"
    );
}
