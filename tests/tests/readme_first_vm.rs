//! The README's walkthrough is a test: what a new user does on a fresh machine, exactly
//! as README.md says it, must work every time.
//!
//! `scripts/run` (the README's first command, from the workspace root, on a fresh data
//! directory) starts the embedded default with this machine as its host; then the
//! "Your first VM" block is read from README.md at test time (so the test changes with
//! the README), split into commands, and run one by one in one `bash` (as a person pasting
//! it into a terminal would, with only `PASSWORD` given). After the commands it
//! recognises, it checks what the README says, through the API and libvirt: the VM is
//! Running within 60 s of `deployVirtualMachine` with the first address of
//! 192.168.251.10-200 and a running domain; the console shows iPXE's banner (OCR of the
//! `virsh screenshot`); stop leaves no running domain, start runs it again; destroy with
//! expunge leaves no VM, domain, volume file or held address. Finally `scripts/run` is
//! stopped like Ctrl-C and nothing it started may be left: server, agent, Postgres,
//! dnsmasq, QEMU, the NFS server's namespace, a libvirtd it started.
//!
//! It is the only test that uses the machine's own libvirt, 127.0.0.1:8080, `cloudbr0`
//! and the NFS namespace `stratusnfs`: it refuses to start when any is in use, so two
//! copies never run at once. Root only (skipped otherwise). `scripts/run` builds the
//! release binaries first, so a cold run waits up to 25 minutes for `/healthz`.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::net::Ipv4Addr;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use serde_json::Value;
use stratus_tests::{processes_using, running, wait_for, workspace_root, CsApi};

const API: &str = "http://127.0.0.1:8080/client/api";
const HEALTHZ: &str = "http://127.0.0.1:8080/healthz";
const HEADING: &str = "### Your first VM";
/// The block that follows it: a VM from a template, and `ssh` into it.
const TEMPLATE_HEADING: &str = "### A VM from a template, and `ssh` into it";
/// scripts/run with an Advanced default zone, and the block that uses it.
const ADVANCED_HEADING: &str = "### An Advanced zone on this machine";
const NFS_NAMESPACE: &str = "stratusnfs";
/// The default zone's guest range (management/src/local_host.rs).
const GUEST_FIRST: Ipv4Addr = Ipv4Addr::new(192, 168, 251, 10);
const GUEST_LAST: Ipv4Addr = Ipv4Addr::new(192, 168, 251, 200);
/// A cold `cargo build --release` of the workspace on a small CI machine.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(25 * 60);
/// Any one README command (apt-get and pip included).
const STEP_TIMEOUT: Duration = Duration::from_secs(15 * 60);
/// What the README (and issue 18) promise: deploy call → Running.
const DEPLOY_LIMIT: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------------------
// The README block.

/// The commands of the README's "Your first VM" block, as bash will see them: `\`
/// continuations joined, blank and comment-only lines dropped.
fn readme_commands(readme: &str, heading: &str) -> Vec<String> {
    readme_block(readme, heading, 0)
}

/// The commands of the `nth` (from 0) code block after `heading`.
fn readme_block(readme: &str, heading: &str, nth: usize) -> Vec<String> {
    let mut lines = readme.lines().skip_while(|l| l.trim() != heading).skip(1);
    for _ in 0..nth {
        assert!(
            lines.by_ref().any(|l| l.starts_with("```")),
            "README.md: no code block after {heading:?}"
        );
        assert!(
            lines.by_ref().any(|l| l.starts_with("```")),
            "README.md: a block after {heading:?} is not closed"
        );
    }
    let fence = lines
        .by_ref()
        .find(|l| l.starts_with("```"))
        .unwrap_or_else(|| panic!("README.md: no code block after {heading:?}"));
    assert!(
        fence.starts_with("```sh") || fence.starts_with("```bash"),
        "README.md: the block after {heading:?} is not a shell block: {fence}"
    );
    let mut commands = vec![];
    let mut current = String::new();
    let mut closed = false;
    for line in lines {
        if line.starts_with("```") {
            closed = true;
            break;
        }
        if current.is_empty() && (line.trim().is_empty() || line.trim_start().starts_with('#')) {
            continue;
        }
        if let Some(head) = line.strip_suffix('\\') {
            current.push_str(head);
            current.push(' ');
            continue;
        }
        current.push_str(line);
        commands.push(std::mem::take(&mut current).trim().to_string());
    }
    assert!(closed, "README.md: the {heading:?} block is not closed");
    assert!(current.is_empty(), "README.md: a `\\` ends the block");
    commands
}

/// What the test checks after a README command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Step {
    /// `export CLOUDSTACK_KEY=...`: the API keys the README made (the test uses them too).
    Keys,
    Deploy,
    Screenshot,
    Stop,
    Start,
    DestroyExpunge,
}

fn step_of(command: &str) -> Option<Step> {
    let c = command.split(" #").next().unwrap_or(command);
    if c.contains("CLOUDSTACK_SECRET=") {
        Some(Step::Keys)
    } else if c.contains("cs deployVirtualMachine") {
        Some(Step::Deploy)
    } else if c.contains("virsh screenshot") {
        Some(Step::Screenshot)
    } else if c.contains("cs stopVirtualMachine") {
        Some(Step::Stop)
    } else if c.contains("cs startVirtualMachine") {
        Some(Step::Start)
    } else if c.contains("cs destroyVirtualMachine") && c.contains("expunge=true") {
        Some(Step::DestroyExpunge)
    } else {
        None
    }
}

const ALL_STEPS: [Step; 6] = [
    Step::Keys,
    Step::Deploy,
    Step::Screenshot,
    Step::Stop,
    Step::Start,
    Step::DestroyExpunge,
];

/// A `<vm id>`-style placeholder in a command, if any (`<(`, `</dev/null` are shell).
fn placeholder(command: &str) -> Option<&str> {
    command.match_indices('<').find_map(|(i, _)| {
        let rest = &command[i + 1..];
        let inner = &rest[..rest.find('>')?];
        let looks = inner.starts_with(|c: char| c.is_ascii_alphabetic())
            && inner
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || " -_().".contains(c));
        looks.then_some(&command[i..i + inner.len() + 2])
    })
}

fn read_readme() -> String {
    std::fs::read_to_string(workspace_root().join("README.md")).unwrap()
}

/// Runs anywhere (no root): the block parses, every command is complete shell, and it
/// still has every step the walkthrough test checks, in the README's order.
#[test]
fn the_readme_first_vm_block_has_every_checked_step() {
    let commands = readme_commands(&read_readme(), HEADING);
    assert!(
        commands[0].starts_with("PASSWORD=${PASSWORD:?"),
        "the block's first line takes the password from $PASSWORD: {}",
        commands[0]
    );
    for c in &commands {
        let out = Command::new("bash").args(["-n", "-c", c]).output().unwrap();
        assert!(
            out.status.success(),
            "README command is not complete shell (one command a line, `\\` to continue): {c}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            placeholder(c).is_none(),
            "a placeholder {:?} in a README command: {c}",
            placeholder(c)
        );
    }
    let steps: Vec<Step> = commands.iter().filter_map(|c| step_of(c)).collect();
    assert_eq!(steps, ALL_STEPS, "{commands:#?}");
    let template = readme_commands(&read_readme(), TEMPLATE_HEADING);
    assert!(
        template[0].starts_with("STRATUS=${STRATUS:?"),
        "the template block takes the repository's directory from $STRATUS: {}",
        template[0]
    );
    for c in &template {
        let out = Command::new("bash").args(["-n", "-c", c]).output().unwrap();
        assert!(out.status.success(), "not complete shell: {c}");
        assert!(placeholder(c).is_none(), "a placeholder in: {c}");
    }
    assert!(
        template.iter().any(|c| is_login_check(c)),
        "the template block ends with ssh into the VM: {template:#?}"
    );
    let start = readme_block(&read_readme(), ADVANCED_HEADING, 0);
    assert!(
        start.len() == 1
            && start[0].contains("STRATUS_LOCAL_ZONE_TYPE=advanced")
            && start[0].ends_with("scripts/run"),
        "the Advanced section starts scripts/run with an Advanced zone: {start:?}"
    );
    let advanced = readme_block(&read_readme(), ADVANCED_HEADING, 1);
    for c in &advanced {
        let out = Command::new("bash").args(["-n", "-c", c]).output().unwrap();
        assert!(out.status.success(), "not complete shell: {c}");
        assert!(placeholder(c).is_none(), "a placeholder in: {c}");
    }
    for what in [
        "cs createNetwork",
        "cs deployVirtualMachine",
        "cs createPortForwardingRule",
        "$SSH \"hostname",
        "cs deletePortForwardingRule",
        "cs deleteNetwork",
    ] {
        assert!(
            advanced.iter().any(|c| c.contains(what)),
            "the Advanced block has {what}: {advanced:#?}"
        );
    }
}

/// The template block's `ssh … 'hostname; cat …; cloud-init status --wait'`.
fn is_login_check(command: &str) -> bool {
    command.starts_with("ssh ") && command.contains("cloud-init status --wait")
}

// ---------------------------------------------------------------------------------------
// Processes.

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1))
        == Some("0")
}

fn signal(pid: i32, sig: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg("--")
        .arg(pid.to_string())
        .stderr(Stdio::null())
        .status();
}

/// Live processes: (pid, comm, cmdline).
fn processes() -> Vec<(i32, String, String)> {
    let mut out = vec![];
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if !running(pid) {
            continue;
        }
        let comm = std::fs::read_to_string(e.path().join("comm")).unwrap_or_default();
        let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        out.push((pid, comm.trim().to_string(), cmd.trim().to_string()));
    }
    out
}

fn pids_named(name: &str) -> BTreeSet<i32> {
    processes()
        .into_iter()
        .filter(|(_, comm, _)| comm == name)
        .map(|(pid, _, _)| pid)
        .collect()
}

fn cmdline(pid: i32) -> String {
    let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    String::from_utf8_lossy(&cmd).replace('\0', " ")
}

/// The process group's live members.
fn group_members(pgid: i32) -> Vec<i32> {
    processes()
        .into_iter()
        .map(|(pid, _, _)| pid)
        .filter(|&pid| stratus_tests::process_group_of(pid) == Some(pgid))
        .collect()
}

fn listening(port: u16) -> bool {
    std::net::TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(500),
    )
    .is_ok()
}

fn netns_exists(name: &str) -> bool {
    let out = Command::new("ip").args(["netns", "list"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .any(|l| l.split_whitespace().next() == Some(name))
}

fn link_exists(name: &str) -> bool {
    Path::new("/sys/class/net").join(name).exists()
}

/// Whether the machine's own nftables has the agent's security-group table.
fn nft_table_exists() -> bool {
    Command::new("nft")
        .args(["list", "table", "inet", "stratus_sg"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::new();
    let mut esc = false;
    for c in s.chars() {
        match (esc, c) {
            (false, '\u{1b}') => esc = true,
            (true, 'm') => esc = false,
            (true, _) => {}
            (false, c) => out.push(c),
        }
    }
    out
}

/// `virsh -c qemu:///system ARGS`: (success, stdout).
fn virsh(args: &[&str]) -> (bool, String) {
    let out = Command::new("virsh")
        .args(["-c", "qemu:///system"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("virsh");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
    )
}

fn domain_uuids(all: bool) -> Vec<String> {
    let mut args = vec!["list", "--uuid"];
    if all {
        args.push("--all");
    }
    let (ok, out) = virsh(&args);
    assert!(ok, "virsh list failed");
    out.lines().map(|l| l.trim().to_string()).collect()
}

// ---------------------------------------------------------------------------------------
// scripts/run.

/// `scripts/run` as a user starts it in a terminal: its own process group, stopped with
/// Ctrl-C (SIGINT to the group).
struct Cloud {
    child: Child,
    log: PathBuf,
    exited: Option<std::process::ExitStatus>,
}

impl Cloud {
    fn start(data_dir: &Path, password: &str, log: &Path) -> Cloud {
        Cloud::start_with(data_dir, password, log, &[])
    }

    /// With more environment (what the README puts before `scripts/run`).
    fn start_with(data_dir: &Path, password: &str, log: &Path, env: &[(&str, &str)]) -> Cloud {
        let root = workspace_root();
        let mut cmd = Command::new(root.join("scripts/run"));
        cmd.envs(env.iter().copied());
        cmd.current_dir(&root)
            .process_group(0)
            .env("STRATUS_DATA_DIR", data_dir)
            .env("STRATUS_ADMIN_PASSWORD", password)
            .env_remove("DATABASE_URL")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(log).unwrap())
            .stderr(std::fs::File::options().append(true).open(log).unwrap());
        // What `cargo test` adds for its test binaries is not what a user's shell has.
        for (k, _) in std::env::vars() {
            if k.starts_with("CARGO_PKG_")
                || k.starts_with("CARGO_BIN_")
                || k.starts_with("CARGO_CRATE_")
                || [
                    "CARGO_MANIFEST_DIR",
                    "CARGO_MANIFEST_PATH",
                    "CARGO_PRIMARY_PACKAGE",
                    "CARGO_TARGET_TMPDIR",
                ]
                .contains(&k.as_str())
            {
                cmd.env_remove(k);
            }
        }
        let child = cmd.spawn().expect("starting scripts/run");
        Cloud {
            child,
            log: log.to_path_buf(),
            exited: None,
        }
    }

    fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    fn log_text(&self) -> String {
        strip_ansi(&std::fs::read_to_string(&self.log).unwrap_or_default())
    }

    fn log_tail(&self, n: usize) -> String {
        let text = self.log_text();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// Waits for `/healthz`, printing progress (the first run builds the release
    /// binaries); panics with the log if `scripts/run` exits first.
    fn wait_healthy(&mut self) -> Duration {
        let started = Instant::now();
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(3))
            .build()
            .unwrap();
        let mut next_report = Duration::from_secs(30);
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                self.exited = Some(st);
                panic!(
                    "scripts/run exited ({st}) before /healthz answered; its log:\n{}",
                    self.log_tail(80)
                );
            }
            if let Ok(r) = http.get(HEALTHZ).send() {
                if r.status().is_success() {
                    return started.elapsed();
                }
            }
            let waited = started.elapsed();
            assert!(
                waited < HEALTH_TIMEOUT,
                "scripts/run: no /healthz within {HEALTH_TIMEOUT:?}; its log:\n{}",
                self.log_tail(80)
            );
            if waited >= next_report {
                let last = self.log_tail(1);
                eprintln!(
                    "[readme] waiting for scripts/run ({} s): {}",
                    waited.as_secs(),
                    if last.is_empty() {
                        "installing packages and building (cargo build --release --quiet)"
                    } else {
                        last.as_str()
                    }
                );
                next_report += Duration::from_secs(30);
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// The stratus-management process (scripts/run's child).
    fn management_pid(&self) -> Option<i32> {
        processes()
            .into_iter()
            .find(|(pid, comm, _)| {
                comm.starts_with("stratus-manage") && parent_of(*pid) == Some(self.pid())
            })
            .map(|(pid, _, _)| pid)
    }

    /// Pids the server logged: its Postgres (`pid=`) and its agent (`agent_pid=`).
    fn logged_pids(&self) -> Vec<(String, i32)> {
        let mut found = vec![];
        for line in self.log_text().lines() {
            if line.contains("embedded Postgres is up") {
                if let Some(p) = field(line, "pid=") {
                    found.push(("postgres".to_string(), p));
                }
            }
            if let Some(p) = field(line, "agent_pid=") {
                found.push(("stratus-agent".to_string(), p));
            }
        }
        found
    }

    /// Ctrl-C, and wait until scripts/run has exited (its trap stops the NFS server and
    /// a libvirtd it started).
    fn stop(&mut self) -> Result<std::process::ExitStatus, String> {
        if let Some(st) = self.exited {
            return Ok(st);
        }
        signal(-self.pid(), "INT");
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                self.exited = Some(st);
                return Ok(st);
            }
            if Instant::now() > deadline {
                signal(-self.pid(), "KILL");
                let st = self.child.wait().unwrap();
                self.exited = Some(st);
                return Err(format!(
                    "scripts/run did not stop within 120 s of SIGINT (killed); its log:\n{}",
                    self.log_tail(40)
                ));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

fn parent_of(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// The number after `key` in a log line (`pid=123`), not matching inside a longer key.
fn field(line: &str, key: &str) -> Option<i32> {
    let mut rest = line;
    while let Some(i) = rest.find(key) {
        let before = rest[..i].chars().last();
        let after = &rest[i + key.len()..];
        if before.is_none_or(|c| !(c.is_alphanumeric() || c == '_')) {
            let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
            return digits.parse().ok();
        }
        rest = after;
    }
    None
}

// ---------------------------------------------------------------------------------------
// The shell the README's commands run in.

/// One `bash` for the whole block, in its own process group (so the README's background
/// http.server goes with it); stdout and stderr in one pipe. After each command it prints
/// a marker line with `$?`.
struct Shell {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
    marker: String,
    cwd: PathBuf,
}

struct Ran {
    status: i32,
    output: String,
    took: Duration,
}

impl Shell {
    fn start(cwd: &Path, password: &str) -> Shell {
        let (reader, writer) = std::io::pipe().unwrap();
        let mut cmd = Command::new("bash");
        cmd.args(["--noprofile", "--norc"])
            .current_dir(cwd)
            .process_group(0)
            .env("PASSWORD", password)
            .env("STRATUS", workspace_root())
            .env_remove("CLOUDSTACK_CONFIG")
            .env_remove("CLOUDSTACK_REGION")
            .env_remove("CLOUDSTACK_ENDPOINT")
            .env_remove("CLOUDSTACK_KEY")
            .env_remove("CLOUDSTACK_SECRET")
            .stdin(Stdio::piped())
            .stdout(writer.try_clone().unwrap())
            .stderr(writer);
        let mut child = cmd.spawn().expect("starting bash");
        drop(cmd); // our copies of the pipe's write end
        let stdin = child.stdin.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(reader).split(b'\n') {
                let Ok(line) = line else { break };
                if tx
                    .send(String::from_utf8_lossy(&line).into_owned())
                    .is_err()
                {
                    break;
                }
            }
        });
        let mut shell = Shell {
            child,
            stdin,
            lines,
            marker: format!("@@readme-step-done-{}@@", std::process::id()),
            cwd: cwd.to_path_buf(),
        };
        let r = shell.run("set -o pipefail", Duration::from_secs(10));
        assert_eq!(r.status, 0, "{}", r.output);
        shell
    }

    /// Runs one command (stdin /dev/null, as nothing in the README reads it) and
    /// answers its exit status and output.
    fn run(&mut self, command: &str, timeout: Duration) -> Ran {
        let started = Instant::now();
        write!(
            self.stdin,
            "{{\n{command}\n}} </dev/null\nprintf '\\n{} %d\\n' \"$?\"\n",
            self.marker
        )
        .and_then(|()| self.stdin.flush())
        .expect("writing to bash");
        let mut output: Vec<String> = vec![];
        loop {
            let left = timeout.saturating_sub(started.elapsed());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(rest) = line.strip_prefix(&self.marker) {
                        if output.last().is_some_and(String::is_empty) {
                            output.pop();
                        }
                        return Ran {
                            status: rest.trim().parse().unwrap_or(-1),
                            output: output.join("\n"),
                            took: started.elapsed(),
                        };
                    }
                    if !line.is_empty() {
                        eprintln!("    | {line}");
                    }
                    output.push(line);
                }
                Err(RecvTimeoutError::Timeout) => panic!(
                    "README command still running after {timeout:?}: {command}\n{}",
                    output.join("\n")
                ),
                Err(RecvTimeoutError::Disconnected) => panic!(
                    "bash exited during README command: {command}\n{}",
                    output.join("\n")
                ),
            }
        }
    }

    /// Kills the shell and everything it started in its group (the README's http.server).
    fn kill(&mut self) {
        let pgid = self.child.id() as i32;
        signal(-pgid, "TERM");
        let deadline = Instant::now() + Duration::from_secs(5);
        while !group_members(pgid).is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        signal(-pgid, "KILL");
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------
// The run: everything started, stopped on drop whatever happened.

struct Run {
    shell: Option<Shell>,
    cloud: Cloud,
    /// The VM the README deployed (its id), so a failed run does not leave its domain.
    vm: Option<String>,
    stopped: bool,
}

impl Run {
    /// Stops the shell, any domain of ours still there, then scripts/run.
    fn stop(&mut self) -> Result<std::process::ExitStatus, String> {
        self.stopped = true;
        if let Some(mut shell) = self.shell.take() {
            shell.kill();
        }
        if let Some(vm) = &self.vm {
            if virsh(&["domstate", vm]).0 {
                eprintln!("[readme] removing the leftover domain {vm}");
                virsh(&["destroy", vm]);
                virsh(&["undefine", vm]);
            }
        }
        self.cloud.stop()
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        if !self.stopped {
            if let Err(e) = self.stop() {
                eprintln!("[readme] {e}");
            }
            eprintln!(
                "[readme] scripts/run's log ({}), last lines:\n{}",
                self.cloud.log.display(),
                self.cloud.log_tail(40)
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// Checks through the API.

fn vm_record(api: &CsApi, id: &str) -> Option<Value> {
    let l = api.ok("listVirtualMachines", &["listall=true"]);
    l["virtualmachine"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|v| v["id"] == id)
        .cloned()
}

fn capacity_used(api: &CsApi, zone: &str, kind: i64) -> i64 {
    let l = api.ok(
        "listCapacity",
        &[&format!("zoneid={zone}"), &format!("type={kind}")],
    );
    l["capacity"][0]["capacityused"].as_i64().unwrap_or(0)
}

/// Every file under `dir` (relative paths).
fn files_under(dir: &Path) -> BTreeSet<String> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeSet<String>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                out.insert(p.strip_prefix(base).unwrap().display().to_string());
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(dir, dir, &mut out);
    out
}

fn ocr(png: &Path) -> String {
    let out = Command::new("tesseract")
        .arg(png)
        .arg("-")
        .stderr(Stdio::null())
        .output()
        .expect("tesseract (scripts/test installs tesseract-ocr)");
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// Logs in with a session (no API keys: the README registers the user's keys, which
/// would replace any the test made) and waits until the local host is Up.
fn wait_host_up(password: &str) -> Duration {
    let started = Instant::now();
    let http = reqwest::blocking::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let login: Value = http
        .post(API)
        .form(&[
            ("command", "login"),
            ("username", "admin"),
            ("password", password),
            ("response", "json"),
        ])
        .send()
        .unwrap()
        .json()
        .unwrap();
    let key = login["loginresponse"]["sessionkey"]
        .as_str()
        .unwrap_or_else(|| panic!("login failed: {login}"))
        .to_string();
    let mut last = Value::Null;
    wait_for("the local host Up", 120, || {
        last = http
            .post(API)
            .form(&[
                ("command", "listHosts"),
                ("sessionkey", key.as_str()),
                ("response", "json"),
            ])
            .send()
            .ok()?
            .json()
            .ok()?;
        (last["listhostsresponse"]["host"][0]["state"] == "Up").then_some(())
    });
    started.elapsed()
}

// ---------------------------------------------------------------------------------------

#[test]
fn the_readme_first_vm_walkthrough_works_as_written() {
    if !is_root() {
        eprintln!(
            "skipped: the README walkthrough needs root (scripts/run starts an NFS server in a \
             network namespace and drives the machine's libvirt); CI runs it as root"
        );
        return;
    }
    let commands = readme_commands(&read_readme(), HEADING);
    let template_commands = readme_commands(&read_readme(), TEMPLATE_HEADING);
    // Never two at once, nor next to a cloud already running here.
    for port in [8080, 8250] {
        assert!(
            !listening(port),
            "127.0.0.1:{port} is in use: stop the scripts/run (or other copy of this test) that holds it first"
        );
    }
    assert!(
        !netns_exists(NFS_NAMESPACE),
        "the network namespace {NFS_NAMESPACE} exists: another scripts/run is up (or crashed; `ip netns del {NFS_NAMESPACE}`)"
    );

    // A fresh data directory the postgres user can enter (Postgres runs as postgres).
    let data = tempfile::Builder::new()
        .prefix("stratus-readme-")
        .tempdir_in("/var/tmp")
        .unwrap();
    std::fs::set_permissions(data.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let work = tempfile::Builder::new()
        .prefix("stratus-readme-work-")
        .tempdir()
        .unwrap();
    let log = Path::new(env!("CARGO_TARGET_TMPDIR")).join("readme_first_vm-scripts-run.log");
    let password = format!("readme-{}", uuid::Uuid::new_v4().simple());
    let libvirtd_before = pids_named("libvirtd");
    let had_bridge = link_exists("cloudbr0");
    let had_filter = nft_table_exists();

    eprintln!(
        "[readme] scripts/run with STRATUS_DATA_DIR={}, log {}",
        data.path().display(),
        log.display()
    );
    let mut run = Run {
        shell: None,
        cloud: Cloud::start(data.path(), &password, &log),
        vm: None,
        stopped: false,
    };
    let healthy = run.cloud.wait_healthy();
    eprintln!("[readme] /healthz after {:.1} s", healthy.as_secs_f64());
    let up = wait_host_up(&password);
    eprintln!("[readme] the local host Up {:.1} s later", up.as_secs_f64());
    let management = run.cloud.management_pid().expect("stratus-management runs");
    // The daemons scripts/run started itself (other tests may run theirs meanwhile): the
    // NFS server of `stratusnfs`, and a libvirtd with its pid file in scripts/run's
    // directory, if it started one.
    let ganesha = pids_named("ganesha.nfsd")
        .into_iter()
        .filter(|p| cmdline(*p).contains(&format!("/{NFS_NAMESPACE}/")))
        .collect::<BTreeSet<i32>>();
    assert!(!ganesha.is_empty(), "the local NFS server runs");
    let started_libvirtd = pids_named("libvirtd")
        .difference(&libvirtd_before)
        .copied()
        .filter(|p| cmdline(*p).contains("/tmp/stratus-run."))
        .collect::<BTreeSet<i32>>();
    let primary = data.path().join("nfs/primary");
    let primary_before = files_under(&primary);

    run.shell = Some(Shell::start(work.path(), &password));
    let mut api: Option<CsApi> = None;
    let mut vm_id = String::new();
    let mut instance = String::new();
    let mut address = String::new();
    let mut volume_file = PathBuf::new();
    let mut zone = String::new();
    let mut seen = vec![];
    let mut timings: Vec<(String, Duration)> = vec![];
    let mut deploy_to_running = Duration::ZERO;

    for command in &commands {
        eprintln!("[readme] $ {command}");
        let shell = run.shell.as_mut().unwrap();
        let ran = shell.run(command, STEP_TIMEOUT);
        timings.push((command.clone(), ran.took));
        assert_eq!(
            ran.status, 0,
            "README command failed (exit {}): {command}\n{}",
            ran.status, ran.output
        );
        let Some(step) = step_of(command) else {
            continue;
        };
        seen.push(step);
        match step {
            Step::Keys => {
                let r = shell.run(
                    "printf '%s %s\\n' \"$CLOUDSTACK_KEY\" \"$CLOUDSTACK_SECRET\"",
                    Duration::from_secs(10),
                );
                let mut words = r.output.split_whitespace();
                let (key, secret) = (words.next(), words.next());
                let (Some(key), Some(secret)) = (key, secret) else {
                    panic!("the README's export left no API keys: {:?}", r.output);
                };
                assert!(
                    key != "null" && secret != "null",
                    "no API keys: {}",
                    r.output
                );
                let a = CsApi {
                    url: API.to_string(),
                    key: key.to_string(),
                    secret: secret.to_string(),
                };
                zone = a.ok("listZones", &["name=default"])["zone"][0]["id"]
                    .as_str()
                    .unwrap()
                    .to_string();
                api = Some(a);
            }
            Step::Deploy => {
                let api = api.as_ref().expect("API keys before the deploy");
                // Running within 60 s of the deploy call (cs waits for the job).
                let started = Instant::now() - ran.took;
                let vm = loop {
                    let l = api.ok("listVirtualMachines", &["name=vm1", "listall=true"]);
                    let v = l["virtualmachine"][0].clone();
                    if v["state"] == "Running" {
                        break v;
                    }
                    assert!(
                        started.elapsed() <= DEPLOY_LIMIT,
                        "vm1 not Running {:.1} s after the deploy call: {v}",
                        started.elapsed().as_secs_f64()
                    );
                    std::thread::sleep(Duration::from_millis(300));
                };
                deploy_to_running = started.elapsed();
                eprintln!(
                    "[readme] deployVirtualMachine → Running in {:.1} s (the cs call took {:.1} s)",
                    deploy_to_running.as_secs_f64(),
                    ran.took.as_secs_f64()
                );
                assert!(
                    deploy_to_running <= DEPLOY_LIMIT,
                    "deploy → Running took {deploy_to_running:?}, the README promises a minute"
                );
                vm_id = vm["id"].as_str().unwrap().to_string();
                run.vm = Some(vm_id.clone());
                instance = vm["instancename"].as_str().unwrap().to_string();
                address = vm["nic"][0]["ipaddress"].as_str().unwrap().to_string();
                let ip: Ipv4Addr = address.parse().unwrap();
                assert!(
                    (GUEST_FIRST..=GUEST_LAST).contains(&ip),
                    "{ip} is not in the default zone's range"
                );
                assert_eq!(
                    ip, GUEST_FIRST,
                    "a fresh cloud gives the range's first address"
                );
                assert_eq!(vm["keypairs"], "mykey", "{vm}");
                // libvirt: the domain exists, runs, and is the VM's instance name.
                assert_eq!(virsh(&["domstate", &vm_id]), (true, "running".into()));
                assert_eq!(virsh(&["domname", &vm_id]).1, instance);
                let vols = api.ok("listVolumes", &[&format!("virtualmachineid={vm_id}")]);
                volume_file = primary.join(vols["volume"][0]["path"].as_str().unwrap());
                assert!(volume_file.exists(), "{}", volume_file.display());
                assert_eq!(capacity_used(api, &zone, 8), 1, "one guest address held");
            }
            Step::Screenshot => {
                let png = command
                    .split_whitespace()
                    .find(|w| w.ends_with(".png"))
                    .expect("the screenshot's file name");
                let png = shell.cwd.join(png);
                // The guest may not have drawn its banner yet: look again, as a person would.
                let started = Instant::now();
                let text = loop {
                    let text = ocr(&png);
                    if text.contains("iPXE") {
                        break text;
                    }
                    assert!(
                        started.elapsed() < Duration::from_secs(60),
                        "no iPXE banner on the console after 60 s; OCR read:\n{text}"
                    );
                    std::thread::sleep(Duration::from_secs(2));
                    let again = shell.run(command, Duration::from_secs(60));
                    assert_eq!(again.status, 0, "{}", again.output);
                };
                if let Ok(keep) = std::env::var("STRATUS_SCREENSHOT_DIR") {
                    let _ = std::fs::copy(&png, Path::new(&keep).join("readme-vm1-console.png"));
                }
                eprintln!(
                    "[readme] the console reads ({:.1} s after the first screenshot):\n{text}",
                    started.elapsed().as_secs_f64()
                );
            }
            Step::Stop => {
                let api = api.as_ref().unwrap();
                let v = vm_record(api, &vm_id).expect("the VM is listed");
                assert_eq!(v["state"], "Stopped", "{v}");
                assert!(
                    !domain_uuids(false).contains(&vm_id),
                    "no running domain after stop"
                );
            }
            Step::Start => {
                let api = api.as_ref().unwrap();
                let v = vm_record(api, &vm_id).expect("the VM is listed");
                assert_eq!(v["state"], "Running", "{v}");
                assert_eq!(v["nic"][0]["ipaddress"], address.as_str(), "same address");
                assert_eq!(virsh(&["domstate", &vm_id]), (true, "running".into()));
            }
            Step::DestroyExpunge => {
                let api = api.as_ref().unwrap();
                wait_for("the VM expunged", 60, || {
                    vm_record(api, &vm_id).is_none().then_some(())
                });
                assert!(
                    !domain_uuids(true).contains(&vm_id),
                    "the domain is gone from libvirt"
                );
                assert!(
                    !volume_file.exists(),
                    "the root volume {} is removed",
                    volume_file.display()
                );
                assert_eq!(
                    files_under(&primary),
                    primary_before,
                    "primary storage as before the deploy"
                );
                let vols = api.ok("listVolumes", &["listall=true"]);
                assert!(vols.get("volume").is_none(), "no volumes are left: {vols}");
                assert_eq!(capacity_used(api, &zone, 8), 0, "the address is free");
                assert_eq!(capacity_used(api, &zone, 0), 0, "no memory held");
                let qemu: Vec<_> = processes()
                    .into_iter()
                    .filter(|(_, _, cmd)| cmd.contains("qemu") && cmd.contains(&vm_id))
                    .collect();
                assert!(qemu.is_empty(), "no QEMU for the VM: {qemu:?}");
            }
        }
    }
    assert_eq!(seen, ALL_STEPS, "every checked step of the README ran");

    // The next block: a VM from a template; the user logs in over SSH.
    let mut logged_in = false;
    let mut template_vm = None;
    for command in &template_commands {
        eprintln!("[readme] $ {command}");
        let shell = run.shell.as_mut().unwrap();
        let ran = shell.run(command, STEP_TIMEOUT);
        timings.push((command.clone(), ran.took));
        assert_eq!(
            ran.status, 0,
            "README command failed (exit {}): {command}\n{}",
            ran.status, ran.output
        );
        if command.starts_with("VM=$(cs deployVirtualMachine") {
            let api = api.as_ref().unwrap();
            let l = api.ok("listVirtualMachines", &["name=web1"]);
            let v = l["virtualmachine"][0].clone();
            assert_eq!(v["state"], "Running", "{l}");
            assert_eq!(v["keypairs"], "madekey", "{v}");
            template_vm = Some(v["id"].as_str().unwrap().to_string());
            run.vm = template_vm.clone();
        }
        if is_login_check(command) {
            let out = strip_ansi(&ran.output);
            assert!(
                out.lines().any(|l| l.trim() == "web1"),
                "the host name is the VM's name: {out}"
            );
            assert!(
                out.contains("hello from user data"),
                "the user data's file: {out}"
            );
            assert!(out.contains("status: done"), "cloud-init finished: {out}");
            logged_in = true;
        }
    }
    assert!(logged_in, "the template block logged in over SSH");
    {
        let api = api.as_ref().unwrap();
        let id = template_vm.expect("the template block deployed web1");
        wait_for("web1 expunged", 60, || {
            vm_record(api, &id).is_none().then_some(())
        });
        let l = api.ok("listTemplates", &["templatefilter=self", "name=web1-image"]);
        assert_eq!(l["template"][0]["isready"], true, "createTemplate: {l}");
        run.vm = None;
    }

    // Ctrl-C: everything scripts/run started stops with it.
    let logged = run.cloud.logged_pids();
    let pgid = run.cloud.pid();
    let run_log = run.cloud.log_text();
    let status = run.stop().unwrap_or_else(|e| panic!("{e}"));
    eprintln!("[readme] scripts/run exited: {status}");
    assert!(!running(management), "stratus-management stopped");
    for (what, pid) in &logged {
        assert!(!running(*pid), "{what} (pid {pid}) stopped");
    }
    assert!(
        logged.iter().any(|(w, _)| w == "stratus-agent"),
        "the agent's pid is logged"
    );
    let left = group_members(pgid);
    assert!(
        left.is_empty(),
        "scripts/run's process group is empty: {left:?}"
    );
    let left = processes_using(data.path());
    assert!(
        left.is_empty(),
        "nothing runs from the data directory: {left:?}"
    );
    assert!(
        !netns_exists(NFS_NAMESPACE),
        "the NFS server's namespace is removed"
    );
    for pid in ganesha {
        assert!(!running(pid), "the NFS server (ganesha.nfsd {pid}) stopped");
    }
    if run_log.contains("starting libvirtd for the local host") {
        assert!(
            !started_libvirtd.is_empty(),
            "the libvirtd scripts/run started was seen"
        );
    }
    for pid in started_libvirtd {
        assert!(
            !running(pid),
            "the libvirtd scripts/run started ({pid}) stopped"
        );
    }
    let qemu: Vec<_> = processes()
        .into_iter()
        .filter(|(_, comm, cmd)| comm.starts_with("qemu") && cmd.contains(&instance))
        .collect();
    assert!(qemu.is_empty(), "no QEMU of this run: {qemu:?}");
    if !had_bridge {
        assert!(
            !link_exists("cloudbr0"),
            "the cloudbr0 this run made is removed"
        );
    }
    if !had_filter {
        assert!(
            !nft_table_exists(),
            "the security-group tables this run's agent made are removed"
        );
    }

    eprintln!("[readme] timings:");
    eprintln!("  scripts/run → /healthz: {:.1} s", healthy.as_secs_f64());
    eprintln!("  host Up: +{:.1} s", up.as_secs_f64());
    for (c, t) in &timings {
        let short: String = c.chars().take(90).collect();
        eprintln!("  {:>6.1} s  {short}", t.as_secs_f64());
    }
    eprintln!(
        "  deployVirtualMachine → Running: {:.1} s",
        deploy_to_running.as_secs_f64()
    );

    // The same machine, now as an Advanced zone (after the Basic cloud stopped: they
    // share 127.0.0.1:8080, cloudbr0 and the NFS namespace).
    advanced_zone_walkthrough(work.path());
}

/// The output of the README command that contains `what`.
fn output_of<'a>(ran: &'a [(String, String)], what: &str) -> &'a str {
    ran.iter()
        .find(|(c, _)| c.contains(what))
        .map(|(_, o)| o.as_str())
        .unwrap_or_else(|| panic!("no README command with {what:?}"))
}

/// The README's "An Advanced zone on this machine": `scripts/run` with an Advanced
/// default zone on a fresh data directory, then its block as written (every command must
/// succeed), checked by what the commands printed: the zone is Advanced with a VXLAN
/// physical network; the VM is Running with an address of the zone's guest CIDR from the
/// router's DHCP; the router runs in a namespace; SSH reaches the guest through the public
/// address's port forwarding, where the router's metadata service tells the guest its own
/// address; deleting the rule closes the port; deleting the network removes the router.
/// Then Ctrl-C leaves nothing: no router namespace, no process of the data directory,
/// no cloudbr0 if the run made it.
fn advanced_zone_walkthrough(work: &Path) {
    let readme = read_readme();
    let start = readme_block(&readme, ADVANCED_HEADING, 0);
    let env: Vec<(&str, &str)> = start[0]
        .split_whitespace()
        .filter_map(|w| w.split_once('='))
        .filter(|(k, _)| *k == "STRATUS_LOCAL_ZONE_TYPE")
        .collect();
    assert_eq!(env, [("STRATUS_LOCAL_ZONE_TYPE", "advanced")], "{start:?}");
    let commands = readme_block(&readme, ADVANCED_HEADING, 1);
    let had_bridge = link_exists("cloudbr0");
    let data = tempfile::Builder::new()
        .prefix("stratus-readme-adv-")
        .tempdir_in("/var/tmp")
        .unwrap();
    std::fs::set_permissions(data.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let log = Path::new(env!("CARGO_TARGET_TMPDIR")).join("readme_advanced-scripts-run.log");
    let password = format!("readme-{}", uuid::Uuid::new_v4().simple());
    let mut run = Run {
        shell: None,
        cloud: Cloud::start_with(data.path(), &password, &log, &env),
        vm: None,
        stopped: false,
    };
    let healthy = run.cloud.wait_healthy();
    let up = wait_host_up(&password);
    eprintln!(
        "[readme] Advanced: /healthz after {:.1} s, host Up after +{:.1} s",
        healthy.as_secs_f64(),
        up.as_secs_f64()
    );
    run.shell = Some(Shell::start(work, &password));
    let mut ran: Vec<(String, String)> = vec![];
    for c in &commands {
        eprintln!("[readme] $ {c}");
        let r = run.shell.as_mut().unwrap().run(c, STEP_TIMEOUT);
        assert_eq!(
            r.status, 0,
            "README (Advanced) command failed: {c}\n{}",
            r.output
        );
        eprintln!("[readme]   {:.1} s", r.took.as_secs_f64());
        ran.push((c.clone(), r.output));
    }
    assert_eq!(output_of(&ran, "'.zone[0].networktype'").trim(), "Advanced");
    let pn: Value = serde_json::from_str(output_of(&ran, "cs listPhysicalNetworks")).unwrap();
    assert_eq!(pn["isolationmethods"], "VXLAN", "{pn}");
    assert_eq!(pn["state"], "Enabled", "{pn}");
    let vm: Value = serde_json::from_str(output_of(&ran, "'.virtualmachine[0] | {state")).unwrap();
    assert_eq!(vm["state"], "Running", "{vm}");
    let ip = vm["ipaddress"].as_str().unwrap().to_string();
    assert!(
        ip.starts_with("10.1.1."),
        "an address of the guest CIDR: {vm}"
    );
    let router: Value = serde_json::from_str(output_of(&ran, "cs listRouters")).unwrap();
    assert_eq!(router["state"], "Running", "{router}");
    let ns = output_of(&ran, "ip netns list | grep stratus-r-");
    assert!(ns.contains("stratus-r-"), "the router's namespace: {ns}");
    let inside = output_of(&ran, "$SSH \"hostname");
    let lines: Vec<&str> = inside.lines().map(str::trim).collect();
    assert!(lines.contains(&"web1"), "the guest's name: {inside}");
    assert!(
        inside.contains(&format!("{ip}/")),
        "the guest has its address on its NIC: {inside}"
    );
    assert!(
        lines.contains(&ip.as_str()),
        "the router's metadata service answers the guest's address: {inside}"
    );
    assert!(
        output_of(&ran, "echo \"port 2222: still open\"").contains("port 2222: closed"),
        "deleting the rule closed the port"
    );
    assert_eq!(output_of(&ran, "cs deleteNetwork").trim(), "true");
    let namespace = format!("stratus-{}", router["name"].as_str().unwrap());
    assert!(
        ns.lines()
            .any(|l| l.split_whitespace().next() == Some(namespace.as_str())),
        "listRouters' router is the namespace {namespace}: {ns}"
    );
    assert!(
        !netns_exists(&namespace),
        "the network's router is gone with it"
    );

    // Ctrl-C: nothing of this run is left.
    let logged = run.cloud.logged_pids();
    let status = run.stop().unwrap_or_else(|e| panic!("{e}"));
    eprintln!("[readme] scripts/run (Advanced) exited: {status}");
    for (what, pid) in &logged {
        assert!(!running(*pid), "{what} (pid {pid}) stopped");
    }
    let left = processes_using(data.path());
    assert!(
        left.is_empty(),
        "nothing runs from the data directory: {left:?}"
    );
    assert!(!netns_exists(&namespace), "no router namespace is left");
    assert!(!netns_exists(NFS_NAMESPACE), "the NFS namespace is removed");
    if !had_bridge {
        assert!(
            !link_exists("cloudbr0"),
            "the cloudbr0 scripts/run made is removed"
        );
    }
}

#[test]
fn placeholders_are_found() {
    assert_eq!(placeholder("cs stop id=<vm id>"), Some("<vm id>"));
    assert_eq!(
        placeholder("virsh screenshot <instancename> x.png"),
        Some("<instancename>")
    );
    assert_eq!(placeholder("{ cat; } </dev/null > out"), None);
    assert_eq!(placeholder("diff <(ls) x 2>&1"), None);
}

#[test]
fn log_fields_are_read_by_key() {
    assert_eq!(field("x pid=12 agent_pid=34", "pid="), Some(12));
    assert_eq!(field("x agent_pid=34 pid=12", "pid="), Some(12));
    assert_eq!(field("x agent_pid=34", "agent_pid="), Some(34));
    assert_eq!(field("x agent_pid=34", "pid="), None);
}
