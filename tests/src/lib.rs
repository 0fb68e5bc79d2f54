//! End-to-end test support: start the real `stratus-management` binary on the embedded
//! default (its own Postgres in a temp data dir), and run the real Python `cs` client
//! against it. Tests find the binary next to their own executable (`cargo build` puts
//! both under `target/<profile>/`) and `cs` in `STRATUS_CS` or `.venv/bin/cs`.

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The workspace root (this crate lives in `tests/`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// A binary built by this workspace, e.g. `stratus-management`.
pub fn workspace_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/<test> → target/<profile>/<name>
    let path = exe.parent().unwrap().parent().unwrap().join(name);
    assert!(
        path.exists(),
        "{} is not built; run `cargo build --workspace --bins` first (scripts/test does)",
        path.display()
    );
    path
}

/// The `cs` CLI from PyPI (installed into .venv by scripts/test; else the README's
/// /tmp/cs, which tests/tests/readme_first_vm.rs makes by following the README).
pub fn cs_binary() -> PathBuf {
    if let Ok(p) = std::env::var("STRATUS_CS") {
        return PathBuf::from(p);
    }
    let p = workspace_root().join(".venv/bin/cs");
    let readme = Path::new("/tmp/cs/bin/cs");
    if !p.exists() && readme.exists() {
        return readme.to_path_buf();
    }
    assert!(
        p.exists(),
        "the cs client is missing: run scripts/test, or `python3 -m venv .venv && .venv/bin/pip install cs==5.2.0`"
    );
    p
}

/// Polls `f` (every 300 ms) until it answers `Some`, for at most `secs`; panics naming
/// `what` after that.
pub fn wait_for<T>(what: &str, secs: u64, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "{what}: not within {secs} s");
        std::thread::sleep(Duration::from_millis(300));
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running management server; stopped with SIGINT (like Ctrl-C) on drop.
pub struct Server {
    pub child: Child,
    pub url: String,
    pub data_dir: PathBuf,
    pub log: PathBuf,
}

impl Server {
    pub fn start(data_dir: &Path, admin_password: &str) -> Server {
        Self::start_on(data_dir, admin_password, "127.0.0.1")
    }

    /// Starts the server listening on `ip` (e.g. the management side of a test bed veth).
    pub fn start_on(data_dir: &Path, admin_password: &str, ip: &str) -> Server {
        Self::launch(
            Command::new(workspace_binary("stratus-management")),
            data_dir,
            admin_password,
            ip,
            &[],
        )
    }

    /// Starts the server inside a simulated host's namespaces (network, mount, hostname),
    /// as if that machine ran it: it listens on the host's address, and with
    /// `--local-host` the host's own libvirtd becomes the cloud's first host.
    pub fn start_in(
        host: &SimHost,
        data_dir: &Path,
        admin_password: &str,
        extra: &[&str],
    ) -> Server {
        let mut cmd = Command::new(simhost_script());
        cmd.args(["exec", &host.name])
            .arg(host.state.parent().unwrap())
            .arg(workspace_binary("stratus-management"));
        Self::launch(cmd, data_dir, admin_password, &host.address, extra)
    }

    fn launch(
        mut cmd: Command,
        data_dir: &Path,
        admin_password: &str,
        ip: &str,
        extra: &[&str],
    ) -> Server {
        let port = free_port();
        let log = data_dir.join(format!("management-{port}.log"));
        // Its own process group, like a job in a terminal: `stop` signals the group.
        let child = cmd
            .process_group(0)
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--listen")
            .arg(format!("{ip}:{port}"))
            .args(extra)
            .env("STRATUS_ADMIN_PASSWORD", admin_password)
            .env_remove("DATABASE_URL")
            .env("RUST_LOG", "info,sqlx=warn")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::fs::File::options().append(true).open(&log).unwrap())
            .spawn()
            .expect("starting stratus-management");
        let s = Server {
            child,
            url: format!("http://{ip}:{port}"),
            data_dir: data_dir.to_path_buf(),
            log,
        };
        s.wait_healthy();
        s
    }

    fn wait_healthy(&self) {
        let deadline = Instant::now() + Duration::from_secs(90);
        let client = reqwest::blocking::Client::new();
        while Instant::now() < deadline {
            if let Ok(r) = client.get(format!("{}/healthz", self.url)).send() {
                if r.status().is_success() {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!(
            "server did not become healthy; log:\n{}",
            std::fs::read_to_string(&self.log).unwrap_or_default()
        );
    }

    pub fn api(&self) -> String {
        format!("{}/client/api", self.url)
    }

    /// Ctrl-C, and wait for the process to exit.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        // Ctrl-C as a terminal sends it: to the whole foreground process group.
        signal(-(self.child.id() as i32), "INT");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("server did not stop within 60 s of SIGINT");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The embedded Postgres's PID, from the server's log.
    pub fn postgres_pid(&self) -> Option<i32> {
        let log = self.log_text();
        let line = log
            .lines()
            .find(|l| l.contains("embedded Postgres is up"))?;
        let plain: String = strip_ansi(line);
        plain
            .split("pid=")
            .nth(1)?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // A failing test's server log goes with its temporary directory: what it said
        // about the failure is printed here, or a CI failure has no cause on record.
        if std::thread::panicking() {
            let log = strip_ansi(&self.log_text());
            let notable: Vec<&str> = log
                .lines()
                .filter(|l| l.contains(" WARN ") || l.contains(" ERROR "))
                .collect();
            let from = notable.len().saturating_sub(60);
            eprintln!(
                "--- the last {} warnings and errors of {} ---\n{}",
                notable.len() - from,
                self.log.display(),
                notable[from..].join("\n")
            );
        }
        if self.child.try_wait().ok().flatten().is_none() {
            self.stop();
        }
    }
}

/// A simulated KVM host (tests/testbed/simhost.sh): a network namespace on the test-bed
/// bridge with its own sshd, virtlogd and libvirtd (`qemu:///system`, TCG guests), reachable
/// at `address`. The management side is the bridge address `mgmt_ip`, which exists only
/// while a machine is attached: start a `Server` listening on it after `SimHost::up`.
/// Removed on drop.
pub struct SimHost {
    pub name: String,
    pub address: String,
    pub mgmt_ip: String,
    pub state: PathBuf,
    /// Dropped after the namespace is gone (fields drop after `Drop::drop`).
    _lease: TestbedLease,
}

/// A test-bed machine's name and address held for one test. Test binaries run in parallel
/// (scripts/test), and two that picked the same machine index or name would tear each
/// other's namespaces down; the second waits on the first's lock instead. Advisory
/// `flock`s on files in /run, so a crashed test's lease ends with its process. Within one
/// process a lease is shared, not waited for: a test that stops its NFS server and starts
/// it again holds the old handle meanwhile.
struct TestbedLease {
    _locks: Vec<std::sync::Arc<std::fs::File>>,
}

type Held = std::collections::HashMap<String, std::sync::Weak<std::fs::File>>;
static HELD: std::sync::Mutex<Option<Held>> = std::sync::Mutex::new(None);

impl TestbedLease {
    fn take(name: &str, index: u8) -> TestbedLease {
        let dir = Path::new("/run/stratus-testbed.leases");
        std::fs::create_dir_all(dir).expect("creating /run/stratus-testbed.leases");
        let mut locks = vec![];
        // Always index first, then name: one order, so two tests cannot deadlock.
        for key in [format!("index-{index}"), format!("name-{name}")] {
            let mut held = HELD.lock().unwrap_or_else(|e| e.into_inner());
            let held = held.get_or_insert_with(Default::default);
            if let Some(file) = held.get(&key).and_then(|w| w.upgrade()) {
                locks.push(file);
                continue;
            }
            let file = std::fs::File::create(dir.join(&key)).expect("creating a lease file");
            let started = Instant::now();
            file.lock().expect("locking a test-bed lease");
            if started.elapsed() > Duration::from_secs(1) {
                eprintln!(
                    "test bed: waited {:?} for machine {name} / index {index}",
                    started.elapsed()
                );
            }
            let file = std::sync::Arc::new(file);
            held.insert(key, std::sync::Arc::downgrade(&file));
            locks.push(file);
        }
        TestbedLease { _locks: locks }
    }
}

/// The management side of the test bed (the bridge in tests/testbed/lib.sh).
pub const TESTBED_GATEWAY: &str = "10.231.0.1";

fn simhost_script() -> PathBuf {
    workspace_root().join("tests/testbed/simhost.sh")
}

impl SimHost {
    /// Starts host `name` at 10.231.`index`.2 (a crashed run's leftovers of that name are
    /// removed first).
    pub fn up(name: &str, index: u8, root_password: &str, state: &Path) -> SimHost {
        let lease = TestbedLease::take(name, index);
        let out = Command::new(simhost_script())
            .args(["up", name, &index.to_string(), root_password])
            .arg(state)
            .output()
            .expect("running simhost.sh");
        assert!(
            out.status.success(),
            "simhost.sh up {name} failed (root is needed): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        SimHost {
            name: name.into(),
            address: format!("10.231.{index}.2"),
            mgmt_ip: TESTBED_GATEWAY.into(),
            state: state.join(name),
            _lease: lease,
        }
    }

    /// Runs a command inside the host's namespaces (network, mount, UTS), as its admin
    /// would on the host: `host.exec(&["virsh", "list"])`.
    pub fn exec(&self, args: &[&str]) -> std::process::Output {
        Command::new(simhost_script())
            .args(["exec", &self.name])
            .arg(self.state.parent().unwrap())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("running simhost.sh exec")
    }

    /// Starts a command inside the host's namespaces without waiting for it (stdout
    /// piped): `simhost.sh exec` becomes the command itself, so the child's PID is the
    /// command's and a signal to it reaches the command.
    pub fn spawn(&self, args: &[&str]) -> std::process::Child {
        Command::new(simhost_script())
            .args(["exec", &self.name])
            .arg(self.state.parent().unwrap())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("running simhost.sh exec")
    }

    /// Runs `command` in the guest at `ip` as `debian` (the test bed's guest image), over
    /// SSH from inside this host's namespace with the private key `key`: (exit status ok,
    /// stdout), or None if ssh itself failed (no route, refused, key not yet installed).
    pub fn guest_ssh(&self, key: &Path, ip: &str, command: &str) -> Option<(bool, String)> {
        let target = format!("debian@{ip}");
        let out = self.exec(&[
            "ssh",
            "-i",
            key.to_str().unwrap(),
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "ConnectTimeout=5",
            "-o",
            "BatchMode=yes",
            "-o",
            "LogLevel=ERROR",
            &target,
            command,
        ]);
        (out.status.code() != Some(255)).then(|| {
            (
                out.status.success(),
                String::from_utf8_lossy(&out.stdout).into_owned(),
            )
        })
    }

    /// `virsh -c qemu:///system ARGS` on this host; panics unless it succeeds.
    pub fn virsh(&self, args: &[&str]) -> String {
        let mut all = vec!["virsh", "-c", "qemu:///system"];
        all.extend_from_slice(args);
        let out = self.exec(&all);
        assert!(
            out.status.success(),
            "virsh {args:?} on {}: {}",
            self.name,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn pid_file(&self, rel: &str) -> Option<i32> {
        let pid: i32 = std::fs::read_to_string(self.state.join(rel))
            .ok()?
            .trim()
            .parse()
            .ok()?;
        running(pid).then_some(pid)
    }

    /// The agent's pid on this host, if its pid file names a live process.
    pub fn agent_pid(&self) -> Option<i32> {
        self.pid_file("agent/agent.pid")
    }

    pub fn kill_agent(&self) {
        let pid = self.agent_pid().expect("the agent runs");
        signal(pid, "KILL");
    }

    /// Starts the installed agent again inside the host's namespaces, as its admin would.
    pub fn start_agent(&self) {
        let out = self.exec(&[
            "sh",
            "-c",
            "nohup setsid /var/lib/stratus-agent/bin/stratus-agent --config /etc/stratus/agent.properties >> /var/lib/stratus-agent/agent.log 2>&1 < /dev/null & echo $! > /var/lib/stratus-agent/agent.pid",
        ]);
        assert!(out.status.success(), "{out:?}");
    }

    /// libvirtd's pid on this host, if it runs.
    pub fn libvirtd_pid(&self) -> Option<i32> {
        self.pid_file("libvirtd.pid")
    }

    /// Stops the host's libvirtd (its guests keep running, as with a real host) and waits
    /// until it has exited.
    pub fn stop_libvirtd(&self) {
        let pid = self.libvirtd_pid().expect("libvirtd runs");
        signal(pid, "TERM");
        let deadline = Instant::now() + Duration::from_secs(30);
        while running(pid) {
            assert!(Instant::now() < deadline, "libvirtd did not stop");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Freezes the host's libvirtd (SIGSTOP): every libvirt call hangs until
    /// [`SimHost::resume_libvirtd`], as on a host whose libvirtd is stuck.
    pub fn pause_libvirtd(&self) {
        signal(self.libvirtd_pid().expect("libvirtd runs"), "STOP");
    }

    pub fn resume_libvirtd(&self) {
        signal(self.libvirtd_pid().expect("libvirtd runs"), "CONT");
    }

    /// Starts the host's libvirtd again and waits until it answers.
    pub fn start_libvirtd(&self) {
        let pid_file = self.state.join("libvirtd.pid");
        // `-l`: its TLS listener too (live migration), as simhost.sh starts it.
        let out = self.exec(&["libvirtd", "-d", "-l", "-p", pid_file.to_str().unwrap()]);
        assert!(out.status.success(), "{out:?}");
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self
            .exec(&["virsh", "-c", "qemu:///system", "version"])
            .status
            .success()
        {
            assert!(Instant::now() < deadline, "libvirtd did not answer");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn file_exists(&self, rel: &str) -> bool {
        self.state.join(rel).exists()
    }
}

impl Drop for SimHost {
    fn drop(&mut self) {
        let _ = Command::new(simhost_script())
            .args(["down", &self.name])
            .arg(self.state.parent().unwrap())
            .status();
    }
}

/// A live process (not a zombie waiting for its parent).
pub fn running(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| !s.contains(") Z "))
        .unwrap_or(false)
}

/// `kill -SIG pid`; a negative pid signals that process group.
fn signal(pid: i32, sig: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg("--")
        .arg(pid.to_string())
        .status();
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::new();
    let mut in_esc = false;
    for c in s.chars() {
        match (in_esc, c) {
            (false, '\u{1b}') => in_esc = true,
            (true, 'm') => in_esc = false,
            (true, _) => {}
            (false, c) => out.push(c),
        }
    }
    out
}

/// The process group of a running process (`/proc/PID/stat`, field 5).
pub fn process_group_of(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces; fields after it are plain.
    let after = stat.rsplit_once(')')?.1;
    after.split_whitespace().nth(2)?.parse().ok()
}

/// Whether any process still runs from the given data directory (its Postgres).
pub fn processes_using(dir: &Path) -> Vec<String> {
    let needle = dir.to_string_lossy().to_string();
    let mut found = vec![];
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        if e.file_name().to_string_lossy().parse::<u32>().is_err() {
            continue;
        }
        if let Ok(cmd) = std::fs::read(e.path().join("cmdline")) {
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            if cmd.contains(&needle) {
                found.push(format!(
                    "{}: {}",
                    e.file_name().to_string_lossy(),
                    cmd.trim()
                ));
            }
        }
    }
    found
}

/// The result of one `cs` invocation: exit success and the JSON it printed.
#[derive(Debug)]
pub struct CsOutput {
    pub success: bool,
    pub json: Value,
    pub stderr: String,
}

/// Runs `cs <command> k=v ...` with the given credentials.
pub fn cs(
    endpoint: &str,
    key: &str,
    secret: &str,
    extra_flags: &[&str],
    command: &str,
    args: &[&str],
) -> CsOutput {
    let out = Command::new(cs_binary())
        .args(extra_flags)
        .arg(command)
        .args(args)
        .env("CLOUDSTACK_ENDPOINT", endpoint)
        .env("CLOUDSTACK_KEY", key)
        .env("CLOUDSTACK_SECRET", secret)
        .env("CLOUDSTACK_TIMEOUT", "30")
        .env("CLOUDSTACK_POLL_INTERVAL", "0.5")
        .env_remove("CLOUDSTACK_CONFIG")
        .env_remove("CLOUDSTACK_REGION")
        .output()
        .expect("running cs");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    CsOutput {
        success: out.status.success(),
        json: serde_json::from_str(&stdout).unwrap_or(Value::String(stdout)),
        stderr: String::from_utf8_lossy(&out.stderr).to_string(),
    }
}

/// The Python that has the clients scripts/test installs (cs, libcloud, ansible):
/// `STRATUS_PYTHON`, else the workspace's `.venv`.
pub fn python() -> String {
    std::env::var("STRATUS_PYTHON").unwrap_or_else(|_| {
        workspace_root()
            .join(".venv/bin/python")
            .display()
            .to_string()
    })
}

/// A CloudStack endpoint with API keys, driven through the `cs` CLI.
pub struct CsApi {
    pub url: String,
    pub key: String,
    pub secret: String,
}

impl CsApi {
    /// Runs an Ansible playbook (path relative to the workspace) once against this
    /// endpoint with extra variables `vars`; (the `changed` count of its recap, its
    /// output). Panics, with the output, when the playbook fails.
    pub fn ansible_playbook(&self, playbook: &str, mut vars: Value, home: &Path) -> (u32, String) {
        let bin = std::path::PathBuf::from(python()).with_file_name("ansible-playbook");
        vars["ansible_python_interpreter"] = Value::String(python());
        let out = Command::new(&bin)
            .args(["-i", "localhost,", "-e"])
            .arg(vars.to_string())
            .arg(workspace_root().join(playbook))
            .env("CLOUDSTACK_ENDPOINT", &self.url)
            .env("CLOUDSTACK_KEY", &self.key)
            .env("CLOUDSTACK_SECRET", &self.secret)
            .env("CLOUDSTACK_TIMEOUT", "600")
            .env("ANSIBLE_HOME", home)
            .env("ANSIBLE_NOCOLOR", "1")
            .env("ANSIBLE_LOCALHOST_WARNING", "false")
            .output()
            .unwrap_or_else(|e| panic!("{} (scripts/test installs ansible): {e}", bin.display()));
        let text = format!(
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "ansible-playbook failed:\n{text}");
        let changed = text
            .lines()
            .find(|l| l.starts_with("localhost") && l.contains("changed="))
            .and_then(|recap| {
                recap
                    .split_whitespace()
                    .find_map(|w| w.strip_prefix("changed="))
            })
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no recap:\n{text}"));
        (changed, text)
    }

    /// Logs in with a session and registers API keys for the user, as the UI does.
    pub fn login(server: &Server, username: &str, password: &str) -> CsApi {
        let http = reqwest::blocking::Client::builder()
            .cookie_store(true)
            .build()
            .unwrap();
        let login: Value = http
            .post(server.api())
            .form(&[
                ("command", "login"),
                ("username", username),
                ("password", password),
                ("domain", "/"),
                ("response", "json"),
            ])
            .send()
            .unwrap()
            .json()
            .unwrap();
        let sessionkey = login["loginresponse"]["sessionkey"]
            .as_str()
            .expect("login answers a sessionkey")
            .to_string();
        let userid = login["loginresponse"]["userid"]
            .as_str()
            .unwrap()
            .to_string();
        let reg: Value = http
            .post(server.api())
            .form(&[
                ("command", "registerUserKeys"),
                ("id", &userid),
                ("response", "json"),
                ("sessionkey", &sessionkey),
            ])
            .send()
            .unwrap()
            .json()
            .unwrap();
        let k = &reg["registeruserkeysresponse"]["userkeys"];
        CsApi {
            url: server.api(),
            key: k["apikey"].as_str().expect("apikey").to_string(),
            secret: k["secretkey"].as_str().expect("secretkey").to_string(),
        }
    }

    pub fn run(&self, flags: &[&str], command: &str, args: &[&str]) -> CsOutput {
        cs(&self.url, &self.key, &self.secret, flags, command, args)
    }

    /// Lets this cloud's downloads reach 127.0.0.1, where the tests' HTTP file servers
    /// listen: the download policy refuses loopback unless a root admin's
    /// `secstorage.allowed.internal.sites` lists it.
    pub fn allow_loopback_downloads(&self) {
        self.ok(
            "updateConfiguration",
            &[
                "name=secstorage.allowed.internal.sites",
                "value=127.0.0.1/32",
            ],
        );
    }

    /// Runs and asserts success; returns what cs printed.
    pub fn ok(&self, command: &str, args: &[&str]) -> Value {
        let o = self.run(&[], command, args);
        assert!(
            o.success,
            "cs {command} {args:?} failed: {} {}",
            o.json, o.stderr
        );
        o.json
    }

    /// Runs, asserts failure with CloudStack's `code`; returns the error text.
    pub fn err(&self, command: &str, args: &[&str], code: u16) -> String {
        let o = self.run(&[], command, args);
        assert!(
            !o.success,
            "cs {command} {args:?} should have failed: {}",
            o.json
        );
        let body = o
            .json
            .as_object()
            .and_then(|m| m.values().next())
            .cloned()
            .unwrap_or_default();
        // An async command fails in its job's result.
        let body = match body.get("jobresult") {
            Some(r) => r.clone(),
            None => body,
        };
        assert_eq!(body["errorcode"], code, "cs {command} {args:?}: {}", o.json);
        body["errortext"].as_str().unwrap_or_default().to_string()
    }
}

/// A simulated NFS server (tests/testbed/nfs-server.sh): nfs-ganesha in its own network
/// namespace at 10.231.`index`.2 on the test-bed bridge; stopped by PID on drop.
pub struct NfsServer {
    pub name: String,
    pub address: String,
    state: PathBuf,
    _lease: TestbedLease,
}

impl NfsServer {
    pub fn up(name: &str, index: u8, state: &Path, exports: &[&Path]) -> NfsServer {
        let lease = TestbedLease::take(name, index);
        let out = Command::new(workspace_root().join("tests/testbed/nfs-server.sh"))
            .args(["up", name, &index.to_string()])
            .arg(state)
            .args(exports)
            .output()
            .expect("running tests/testbed/nfs-server.sh");
        assert!(
            out.status.success(),
            "nfs-server.sh up {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        NfsServer {
            name: name.into(),
            address: format!("10.231.{index}.2"),
            state: state.to_path_buf(),
            _lease: lease,
        }
    }

    /// `nfs://ADDRESS/DIR` for an exported directory.
    pub fn url(&self, dir: &Path) -> String {
        format!("nfs://{}{}", self.address, dir.display())
    }

    pub fn down(&self) {
        let _ = Command::new(workspace_root().join("tests/testbed/nfs-server.sh"))
            .args(["down", &self.name])
            .arg(&self.state)
            .status();
    }
}

impl Drop for NfsServer {
    fn drop(&mut self) {
        self.down();
    }
}

/// What [`HttpFiles`] answers for a path.
#[derive(Clone)]
pub enum Served {
    /// The file's bytes, with Content-Length (streamed from disk, so a guest image from
    /// [`guest_image`] can be served for registration as a template).
    File(PathBuf),
    /// Content-Length `announced`, then `bytes` of an ISO-shaped stream (zeros with
    /// ISO 9660's `CD001` at byte 32769) at `per_second`, then it hangs until the
    /// connection is closed (a download that stalls).
    Slow {
        announced: u64,
        bytes: u64,
        per_second: u64,
    },
}

/// A minimal HTTP/1.0 file server on 127.0.0.1 for download tests (404 for unknown paths).
pub struct HttpFiles {
    pub port: u16,
    pub ip: String,
}

impl HttpFiles {
    pub fn start(routes: Vec<(&'static str, Served)>) -> HttpFiles {
        Self::start_on("127.0.0.1", routes)
    }

    /// Serves on `ip` (e.g. [`TESTBED_GATEWAY`], which simulated hosts reach).
    pub fn start_on(ip: &str, routes: Vec<(&'static str, Served)>) -> HttpFiles {
        use std::io::{BufRead, BufReader, Write};
        let listener = TcpListener::bind((ip, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let routes = std::sync::Arc::new(routes);
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let routes = routes.clone();
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(conn.try_clone().unwrap());
                    let mut line = String::new();
                    if reader.read_line(&mut line).is_err() {
                        return;
                    }
                    let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
                    loop {
                        let mut h = String::new();
                        if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                            break;
                        }
                    }
                    let mut out = conn;
                    match routes
                        .iter()
                        .find(|(p, _)| *p == path)
                        .map(|(_, s)| s.clone())
                    {
                        Some(Served::File(f)) => {
                            // Streamed: a guest image is ~150 MB.
                            let mut file = std::fs::File::open(f).unwrap();
                            let len = file.metadata().unwrap().len();
                            let _ = write!(out, "HTTP/1.0 200 OK\r\nContent-Length: {len}\r\n\r\n");
                            let _ = std::io::copy(&mut file, &mut out);
                        }
                        Some(Served::Slow {
                            announced,
                            bytes,
                            per_second,
                        }) => {
                            let _ = write!(
                                out,
                                "HTTP/1.0 200 OK\r\nContent-Length: {announced}\r\n\r\n"
                            );
                            let mut head = vec![0u8; 32774];
                            head[32769..32774].copy_from_slice(b"CD001");
                            if out.write_all(&head).is_err() {
                                return;
                            }
                            let chunk = vec![0u8; (per_second / 10).max(1) as usize];
                            let mut sent = head.len() as u64;
                            while sent < bytes {
                                if out.write_all(&chunk).is_err() {
                                    return;
                                }
                                sent += chunk.len() as u64;
                                std::thread::sleep(Duration::from_millis(100));
                            }
                            std::thread::sleep(Duration::from_secs(600));
                        }
                        None => {
                            let _ = write!(
                                out,
                                "HTTP/1.0 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found"
                            );
                        }
                    }
                });
            }
        });
        HttpFiles {
            port,
            ip: ip.to_string(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}:{}{path}", self.ip, self.port)
    }
}

/// Makes an ed25519 key pair without a passphrase at `path` (and `path.pub`); answers
/// the public key's line.
pub fn ssh_keygen(path: &Path) -> String {
    let kg = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "stratus-e2e", "-f"])
        .arg(path)
        .output()
        .expect("running ssh-keygen");
    assert!(kg.status.success(), "{kg:?}");
    let public = std::fs::read_to_string(path.with_extension("pub")).unwrap();
    public.trim().to_string()
}

/// The test bed's real cloud guest image (Debian bookworm, cloud kernel, cloud-init with
/// `datasource_list: [ ConfigDrive, CloudStack, None ]`, openssh-server; BIOS boot, root on
/// virtio `vda`, console on ttyS0), a compressed qcow2 of 2 GiB virtual size. Built by
/// `tests/testbed/guest-image.sh` from Debian packages on first use (~3 min) and cached in
/// `$STRATUS_TESTBED_CACHE` (default `/var/cache/stratus-testbed/guest-images/`) keyed by
/// the script's hash; later calls return the cached file at once. Concurrent callers are
/// serialised by the script's flock. Needs root and `ensure_guest_image_tools`
/// (scripts/lib/deps.sh; scripts/test runs it). See docs/testbed.md, "The guest image".
pub fn guest_image() -> PathBuf {
    let script = workspace_root().join("tests/testbed/guest-image.sh");
    let out = Command::new(&script)
        .stderr(Stdio::inherit())
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", script.display()));
    assert!(
        out.status.success(),
        "{} failed ({}); its log is above",
        script.display(),
        out.status
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let path = PathBuf::from(stdout.lines().last().unwrap_or("").trim());
    assert!(
        path.is_file(),
        "guest-image.sh printed no image path: {stdout:?}"
    );
    path
}
