// Docker hosts of our own on this machine, for tests that need several machines: each host is a
// network namespace with its own dockerd, reached at a private address of ours.
//
// Layout of a set (SET is a short name, N its number 0-63):
//   netns pgrh-SET-sw      a "switch": one bridge (br0) joining every host and the root namespace.
//                          Bridged traffic runs through the iptables of the namespace the bridge is
//                          in; a fresh namespace accepts everything, so the main engine's firewall
//                          (FORWARD policy DROP) is never touched.
//   link pgrhSETr          the root namespace's end, 10.231.N.1/24: tests connect from here.
//   netns pgrh-SET-I       host I: eth0 = 10.231.N.(11+I)/24, no default route (traffic can reach
//                          only the other hosts and the root end), dockerd with its own bridge
//                          172.29.(4*N+I).1/24 and cgroup parent, socket
//                          unix:///run/pg-replication-hosts/SET/pgrh-SET-I/docker.sock.
//   /run/pg-replication-hosts/SET/      pid files, exec roots, sockets, logs
//   /var/lib/pg-replication-hosts/SET/  data roots
// With `ssh: true` each host also runs an sshd of its own on its address (nsenter, its own config,
// host key and authorized key in the set's run directory) and its engine is ssh://root@<address>,
// as a machine elsewhere is reached: the docker CLI and the docker provider run `ssh ... docker
// system dial-stdio`, and sshd gives that session the host's DOCKER_HOST (SetEnv). The client side
// is an `ssh` on PATH (RUN_ROOT/ssh/bin, put first on this process's PATH, so every child gets it)
// that reads RUN_ROOT/ssh/config, which includes each set's own (its hosts' keys, the set's key,
// batch mode): nothing of the machine's own ssh configuration is read or changed.
// Everything a set makes is found again from its name alone, so a run that was killed is cleaned
// up by the next one (removeHostSet).
//
// dockerd is started with `nsenter --net=` (its mount namespace stays the root one), not
// `ip netns exec`, which remounts /sys and makes dockerd stop with "Devices cgroup isn't mounted".
//
// Images come from the main engine. `docker save | docker load` takes ~17 s per image and host,
// so the first load is kept as a cache (~/.cache/pg-replication/test-hosts/images-<ids>): its
// `image/` metadata is copied and its `overlay2/` layers are hard-linked into each new data root
// before dockerd starts. Image layers are never written after they are made (a container writes
// to its own upper layer; metadata is replaced by rename), so sharing their inodes is safe.

import { execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

const RUN_ROOT = "/run/pg-replication-hosts";
const DATA_ROOT = "/var/lib/pg-replication-hosts";
const CACHE_ROOT = path.join(os.homedir(), ".cache", "pg-replication", "test-hosts");

export interface HostSetOptions {
    /** Names everything the set makes: 1-6 lower-case letters or digits. */
    readonly set: string;
    /** 0-63: the hosts are on 10.231.<subnet>.0/24; sets that may run at once need different ones. */
    readonly subnet: number;
    /** How many hosts (1-4). */
    readonly count: number;
    /** Images copied from the main engine onto every host, e.g. ["postgres:13"]. */
    readonly images: readonly string[];
    /** Bound on each wait (a dockerd answering, stopping); default 60 s. */
    readonly timeoutMs?: number;
    /** Each host runs sshd and is reached as ssh://root@<address> (see above); default unix:// sockets. */
    readonly ssh?: boolean;
    /** Progress lines go here; default stderr with a "[hosts]" prefix. */
    readonly log?: (line: string) => void;
}

export interface TestHost {
    /** pgrh-<set>-<i>: the network namespace's name. */
    readonly name: string;
    /** The engine, as DOCKER_HOST or the docker provider's `host` takes it: ssh://root@<address> with `ssh`, else its socket. */
    readonly dockerHost: string;
    /** unix://<socket>: the engine on this machine, for a test's own look at the host whatever its link. */
    readonly socketHost: string;
    /** The host's own address: what it publishes ports on and what other hosts see it as. */
    readonly address: string;
    /** Runs the docker CLI against this host's engine and returns its stdout, trimmed. */
    docker(...args: string[]): string;
    /**
     * The host is lost, as a machine cut off from everyone: its link to the switch goes down (its
     * address answers nobody) and its dockerd is frozen (SIGSTOP: its engine does not answer,
     * a docker call waits until its caller gives up). Its containers keep running, unaware.
     * With `link: false` only the engine is frozen: its containers still answer on the network.
     */
    lose(parts?: { readonly link?: boolean }): void;
    /** The host is back: dockerd thawed (SIGCONT), its link up again; its containers as they were. */
    restore(): void;
    /**
     * The machine goes down: its link first, then its dockerd stopped (SIGTERM), which stops its
     * containers with it — as a shutdown of the machine would.
     */
    powerOff(): Promise<void>;
    /**
     * The machine comes back: dockerd (and sshd) started again (dockerd restarts the containers
     * whose restart policy says so, as on a boot), then its link up once the engine answers.
     */
    powerOn(): Promise<void>;
}

export interface HostSet {
    readonly hosts: readonly TestHost[];
    /** The root namespace's address on the hosts' network (where tests connect from). */
    readonly gateway: string;
    /** Seconds spent on each step of createHostSet. */
    readonly timings: Readonly<Record<string, number>>;
    /** Stops every dockerd and removes the namespaces, links and directories; never throws for a part already gone. */
    teardown(): Promise<void>;
}

interface Layout {
    set: string;
    subnet: number;
    switchNs: string;
    rootLink: string;
    gateway: string;
    runDir: string;
    dataDir: string;
}

interface HostLayout {
    name: string;
    index: number;
    address: string;
    bip: string;
    runDir: string;
    dataRoot: string;
    execRoot: string;
    pidFile: string;
    socket: string;
    logFile: string;
    sshdConfig: string;
    sshdPidFile: string;
}

function layout(set: string, subnet: number): Layout {
    if (!/^[a-z0-9]{1,6}$/.test(set)) {
        throw new Error(`host set name "${set}" is not allowed: 1-6 lower-case letters or digits`);
    }
    if (!Number.isInteger(subnet) || subnet < 0 || subnet > 63) {
        throw new Error(`host set subnet ${subnet} is not allowed: an integer from 0 to 63`);
    }
    return {
        set,
        subnet,
        switchNs: `pgrh-${set}-sw`,
        rootLink: `pgrh${set}r`,
        gateway: `10.231.${subnet}.1`,
        runDir: path.join(RUN_ROOT, set),
        dataDir: path.join(DATA_ROOT, set),
    };
}

function hostLayout(l: Layout, index: number): HostLayout {
    const name = `pgrh-${l.set}-${index}`;
    const runDir = path.join(l.runDir, name);
    return {
        name,
        index,
        address: `10.231.${l.subnet}.${11 + index}`,
        bip: `172.29.${4 * l.subnet + index}.1/24`,
        runDir,
        dataRoot: path.join(l.dataDir, name),
        execRoot: path.join(runDir, "exec"),
        pidFile: path.join(runDir, "dockerd.pid"),
        socket: path.join(runDir, "docker.sock"),
        logFile: path.join(runDir, "dockerd.log"),
        sshdConfig: path.join(runDir, "sshd_config"),
        sshdPidFile: path.join(runDir, "sshd.pid"),
    };
}

function run(file: string, args: string[], input?: string): string {
    try {
        return execFileSync(file, args, { encoding: "utf8", input, stdio: ["pipe", "pipe", "pipe"], maxBuffer: 16 << 20 }).trim();
    } catch (err) {
        const e = err as { stderr?: string; message: string };
        throw new Error(`${file} ${args.join(" ")} failed: ${(e.stderr ?? "").trim() || e.message}`);
    }
}

/** Like run, but a failure is ignored (for removing what may already be gone). */
function tryRun(file: string, args: string[]): boolean {
    try {
        execFileSync(file, args, { stdio: "ignore" });
        return true;
    } catch {
        return false;
    }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function dockerOn(socket: string, args: string[]): string {
    return run("docker", ["-H", `unix://${socket}`, ...args]);
}

function alive(pid: number): boolean {
    try {
        process.kill(pid, 0);
        return true;
    } catch {
        return false;
    }
}

function readPid(file: string): number | undefined {
    try {
        const pid = Number(fs.readFileSync(file, "utf8").trim());
        return Number.isInteger(pid) && pid > 0 ? pid : undefined;
    } catch {
        return undefined;
    }
}

function netnsList(): string[] {
    return run("ip", ["netns", "list"]).split("\n").map((line) => line.split(" ")[0]).filter(Boolean);
}

/** Processes whose network namespace is NAME (dockerd, containerd and the shims; containers have their own). */
function pidsInNetns(name: string): number[] {
    try {
        return run("ip", ["netns", "pids", name]).split("\n").filter(Boolean).map(Number);
    } catch {
        return [];
    }
}

const CGROUP_ROOT = "/sys/fs/cgroup";

/**
 * The cgroup directories (every controller, cgroup v1 or v2) whose name starts with prefix, each
 * followed by its sub-directories: each host's containers run under a cgroup parent of its name.
 */
function cgroupDirs(prefix: string): string[] {
    const controllers = fs.existsSync(path.join(CGROUP_ROOT, "cgroup.controllers")) ? [CGROUP_ROOT]
        : fs.readdirSync(CGROUP_ROOT).map((c) => path.join(CGROUP_ROOT, c));
    const dirs: string[] = [];
    const walk = (dir: string) => {
        dirs.push(dir);
        for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
            if (entry.isDirectory()) {
                walk(path.join(dir, entry.name));
            }
        }
    };
    for (const controller of controllers) {
        let entries: fs.Dirent[] = [];
        try {
            entries = fs.readdirSync(controller, { withFileTypes: true });
        } catch {
            continue;
        }
        entries.filter((e) => e.isDirectory() && e.name.startsWith(prefix)).forEach((e) => walk(path.join(controller, e.name)));
    }
    return dirs;
}

function pidsInCgroups(dirs: string[]): number[] {
    const pids = new Set<number>();
    for (const dir of dirs) {
        try {
            fs.readFileSync(path.join(dir, "cgroup.procs"), "utf8").split("\n").filter(Boolean).forEach((p) => pids.add(Number(p)));
        } catch {
            // removed meanwhile
        }
    }
    return [...pids];
}

/** Mount points under any of these directories, deepest first. */
function mountsUnder(dirs: string[]): string[] {
    const points = fs.readFileSync("/proc/self/mounts", "utf8").split("\n")
        .map((line) => line.split(" ")[1]?.replace(/\\040/g, " "))
        .filter((p): p is string => p !== undefined && dirs.some((d) => p === d || p.startsWith(`${d}/`)));
    return points.sort((a, b) => b.length - a.length);
}

async function waitFor(what: string, timeoutMs: number, check: () => boolean, detail: () => string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!check()) {
        if (Date.now() > deadline) {
            throw new Error(`${what}: not done after ${timeoutMs / 1000} s; ${detail()}`);
        }
        await sleep(200);
    }
}

function logTail(file: string, lines = 15): string {
    try {
        return `last lines of ${file}:\n${fs.readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n")}`;
    } catch {
        return `${file} is missing`;
    }
}

async function stopDockerd(h: HostLayout, timeoutMs: number): Promise<void> {
    const pid = readPid(h.pidFile);
    if (pid !== undefined && alive(pid)) {
        // A host lost (TestHost.lose) has its dockerd frozen: thawed first, or SIGTERM waits.
        process.kill(pid, "SIGCONT");
        // SIGTERM: dockerd stops its containers (each with its stop signal) and containerd, then exits.
        process.kill(pid, "SIGTERM");
        try {
            await waitFor(`dockerd of ${h.name} (pid ${pid}) stopping`, timeoutMs, () => !alive(pid), () => logTail(h.logFile));
        } catch {
            process.kill(pid, "SIGKILL");
        }
    }
    // What a killed dockerd leaves: containerd, shims, container processes.
    const strays = [...pidsInNetns(h.name), ...pidsInCgroups(cgroupDirs(h.name))];
    for (const stray of strays) {
        try {
            process.kill(stray, "SIGKILL");
        } catch {
            // already gone
        }
    }
    await waitFor(`processes of ${h.name} (${strays.join(" ")}) exiting after SIGKILL`, 10_000,
        () => strays.every((p) => !alive(p)), () => "");
}

/**
 * Removes everything a set of this name made, in whatever state a run left it: dockerds stopped
 * by their pid files (then killed, with whatever runs in their namespace and cgroups), mounts
 * under the set's directories, the namespaces (their links go with them), the root's link, and
 * the directories. Returns what it found, for the caller to report.
 */
export async function removeHostSet(set: string, subnet = 0, timeoutMs = 30_000): Promise<string[]> {
    const l = layout(set, subnet);
    const found: string[] = [];
    const namespaces = netnsList().filter((n) => n.startsWith(`pgrh-${set}-`));
    const hostNames = new Set(namespaces.filter((n) => n !== l.switchNs));
    if (fs.existsSync(l.runDir)) {
        fs.readdirSync(l.runDir).filter((n) => n.startsWith(`pgrh-${set}-`)).forEach((n) => hostNames.add(n));
    }
    stopSshMasters(l);
    for (const name of hostNames) {
        const h = hostLayout(l, Number(name.slice(`pgrh-${set}-`.length)));
        const pid = readPid(h.pidFile);
        if (pid !== undefined && alive(pid)) {
            found.push(`dockerd ${pid}`);
        }
        await stopDockerd(h, timeoutMs);
    }
    const cgroups = cgroupDirs(`pgrh-${set}-`).reverse();
    for (const dir of cgroups) {
        try {
            fs.rmdirSync(dir);
        } catch (err) {
            found.push(`cgroup ${dir} not removed: ${(err as Error).message}`);
        }
    }
    for (const point of mountsUnder([l.runDir, l.dataDir])) {
        found.push(`mount ${point}`);
        tryRun("umount", ["-l", point]);
    }
    for (const ns of namespaces) {
        found.push(`netns ${ns}`);
        tryRun("ip", ["netns", "del", ns]);
    }
    if (tryRun("ip", ["link", "show", l.rootLink])) {
        found.push(`link ${l.rootLink}`);
        tryRun("ip", ["link", "del", l.rootLink]);
    }
    for (const dir of [l.runDir, l.dataDir]) {
        if (fs.existsSync(dir)) {
            found.push(`dir ${dir}`);
            fs.rmSync(dir, { recursive: true, force: true });
        }
    }
    removeSshWrapperIfUnused();
    for (const root of [RUN_ROOT, DATA_ROOT]) {
        try {
            fs.rmdirSync(root); // only when no other set is using it
        } catch {
            // not empty, or already gone
        }
    }
    return found;
}

/** What is left of a set: namespaces, links, dockerd processes, directories. Empty when clean. */
export function hostSetLeftovers(set: string): string[] {
    const l = layout(set, 0);
    const left: string[] = netnsList().filter((n) => n.startsWith(`pgrh-${set}-`)).map((n) => `netns ${n}`);
    left.push(...run("ip", ["-o", "link", "show"]).split("\n")
        .map((line) => line.split(": ")[1]?.split("@")[0])
        .filter((n): n is string => n !== undefined && n.startsWith(`pgrh${set}`)).map((n) => `link ${n}`));
    for (const pid of fs.readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
        let cmdline = "";
        try {
            cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8");
        } catch {
            continue;
        }
        if (cmdline.includes(`${l.runDir}/`) || cmdline.includes(`${l.dataDir}/`)) {
            left.push(`process ${pid} ${cmdline.split("\0").slice(0, 2).join(" ")}`);
        }
    }
    left.push(...mountsUnder([l.runDir, l.dataDir]).map((m) => `mount ${m}`));
    left.push(...cgroupDirs(`pgrh-${set}-`).map((d) => `cgroup ${d}`));
    left.push(...pidsInCgroups(cgroupDirs(`pgrh-${set}-`)).map((p) => `process ${p} (in a host's cgroup)`));
    left.push(...[l.runDir, l.dataDir].filter((d) => fs.existsSync(d)).map((d) => `dir ${d}`));
    return left;
}

function imageIds(images: readonly string[]): string[] {
    return images.map((image) => {
        try {
            return run("docker", ["image", "inspect", "--format", "{{.Id}}", image]);
        } catch {
            throw new Error(`image ${image} is not on the main engine (docker image ls); build it first (scripts/build-images.sh)`);
        }
    });
}

function network(l: Layout, hosts: HostLayout[]): void {
    run("ip", ["netns", "add", l.switchNs]);
    const inSwitch = (...args: string[]) => run("ip", ["-n", l.switchNs, ...args]);
    inSwitch("link", "add", "br0", "type", "bridge");
    inSwitch("link", "set", "br0", "up");
    inSwitch("link", "set", "lo", "up");
    // The root's end: made here, its peer moved into the switch.
    run("ip", ["link", "add", l.rootLink, "type", "veth", "peer", "name", "root", "netns", l.switchNs]);
    run("ip", ["addr", "add", `${l.gateway}/24`, "dev", l.rootLink]);
    run("ip", ["link", "set", l.rootLink, "up"]);
    inSwitch("link", "set", "root", "master", "br0", "up");
    for (const h of hosts) {
        run("ip", ["netns", "add", h.name]);
        const port = `h${h.index}`;
        inSwitch("link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", h.name);
        inSwitch("link", "set", port, "master", "br0", "up");
        const inHost = (...args: string[]) => run("ip", ["-n", h.name, ...args]);
        inHost("link", "set", "lo", "up");
        inHost("addr", "add", `${h.address}/24`, "dev", "eth0");
        inHost("link", "set", "eth0", "up");
    }
}

/** Shared by every set: the `ssh` put first on PATH and the config it reads, which includes each set's. */
const SSH_ROOT = path.join(RUN_ROOT, ".ssh");
const SSH_WRAPPER_DIR = path.join(SSH_ROOT, "bin");
const SSHD = "/usr/sbin/sshd";

/** The machine's own ssh client (the first on PATH that is not our wrapper). */
function realSsh(): string {
    const found = (process.env.PATH ?? "").split(path.delimiter).filter((d) => d && path.resolve(d) !== SSH_WRAPPER_DIR)
        .map((d) => path.join(d, "ssh")).find((f) => fs.existsSync(f));
    if (!found) {
        throw new Error("ssh is not on PATH: install openssh-client (scripts/test.sh does)");
    }
    return found;
}

function keygen(file: string, comment: string): string {
    if (!fs.existsSync(file)) {
        run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", file]);
    }
    return fs.readFileSync(`${file}.pub`, "utf8").trim();
}

/**
 * The client side of a set reached over ssh: its key, its hosts' keys, a config scoped to its
 * addresses, and the shared wrapper first on this process's PATH (children inherit it).
 */
function sshClient(l: Layout, hosts: HostLayout[]): void {
    const dir = path.join(l.runDir, "ssh");
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    keygen(path.join(dir, "id_ed25519"), `pg-replication test hosts ${l.set}`);
    const knownHosts = hosts.map((h) => {
        const [type, key] = keygen(path.join(h.runDir, "ssh_host_ed25519_key"), h.name).split(" ");
        return `${h.address} ${type} ${key}`;
    });
    fs.writeFileSync(path.join(dir, "known_hosts"), knownHosts.join("\n") + "\n");
    fs.writeFileSync(path.join(dir, "config"), [
        `Host 10.231.${l.subnet}.*`,
        "  User root",
        `  IdentityFile ${path.join(dir, "id_ed25519")}`,
        "  IdentitiesOnly yes",
        `  UserKnownHostsFile ${path.join(dir, "known_hosts")}`,
        "  GlobalKnownHostsFile /dev/null",
        "  StrictHostKeyChecking yes",
        "  BatchMode yes",
        "  LogLevel ERROR",
        // One connection per host, shared by every docker call (README, "Engines on other
        // machines"): without it each call is an ssh login and a fork of sshd.
        "  ControlMaster auto",
        `  ControlPath ${path.join(dir, "cm-%C")}`,
        "  ControlPersist 60",
        "  ServerAliveInterval 5",
        "  ServerAliveCountMax 2",
        "",
    ].join("\n"));
    fs.mkdirSync(SSH_WRAPPER_DIR, { recursive: true });
    fs.writeFileSync(path.join(SSH_ROOT, "config"), `Include ${RUN_ROOT}/*/ssh/config\n`);
    const wrapper = path.join(SSH_WRAPPER_DIR, "ssh");
    fs.writeFileSync(wrapper, `#!/bin/sh\nexec ${realSsh()} -F ${path.join(SSH_ROOT, "config")} "$@"\n`, { mode: 0o755 });
    const dirs = (process.env.PATH ?? "").split(path.delimiter);
    if (dirs[0] !== SSH_WRAPPER_DIR) {
        process.env.PATH = [SSH_WRAPPER_DIR, ...dirs.filter((d) => d !== SSH_WRAPPER_DIR)].join(path.delimiter);
    }
}

/** The shared ssh connections to a set's hosts end (they would linger ControlPersist's 60 s). */
function stopSshMasters(l: Layout): void {
    const dir = path.join(l.runDir, "ssh");
    const sockets = fs.existsSync(dir) ? fs.readdirSync(dir).filter((n) => n.startsWith("cm-")) : [];
    for (const socket of sockets) {
        tryRun(realSsh(), ["-S", path.join(dir, socket), "-O", "exit", "host"]);
    }
}

/** Once no set is left: the wrapper goes, and off this process's PATH. */
function removeSshWrapperIfUnused(): void {
    const sets = fs.existsSync(RUN_ROOT) ? fs.readdirSync(RUN_ROOT).filter((n) => n !== path.basename(SSH_ROOT)) : [];
    if (sets.length === 0) {
        fs.rmSync(SSH_ROOT, { recursive: true, force: true });
        process.env.PATH = (process.env.PATH ?? "").split(path.delimiter).filter((d) => d !== SSH_WRAPPER_DIR).join(path.delimiter);
    }
}

/** sshd in the host's namespace, on its address; a session gets the host's engine as DOCKER_HOST. */
function startSshd(l: Layout, h: HostLayout): void {
    if (!fs.existsSync(SSHD)) {
        throw new Error(`${SSHD} is missing: install openssh-server (scripts/test.sh does)`);
    }
    // sshd's privilege separation directory, as the openssh-server package's service makes it.
    fs.mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });
    fs.writeFileSync(h.sshdConfig, [
        `ListenAddress ${h.address}:22`,
        `HostKey ${path.join(h.runDir, "ssh_host_ed25519_key")}`,
        `PidFile ${h.sshdPidFile}`,
        `AuthorizedKeysFile ${path.join(l.runDir, "ssh", "id_ed25519.pub")}`,
        "PermitRootLogin prohibit-password",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "UsePAM no",
        "StrictModes no",
        "PrintMotd no",
        "LogLevel ERROR",
        // Every docker call over a shared connection is a session of it (default 10).
        "MaxSessions 100",
        `SetEnv DOCKER_HOST=unix://${h.socket}`,
        "",
    ].join("\n"));
    // sshd detaches itself and writes its pid file.
    run("nsenter", [`--net=/var/run/netns/${h.name}`, SSHD, "-f", h.sshdConfig, "-E", path.join(h.runDir, "sshd.log")]);
}

async function waitForSsh(h: HostLayout, timeoutMs: number): Promise<void> {
    await waitFor(`docker over ssh://root@${h.address}`, timeoutMs,
        () => tryRun("docker", ["-H", `ssh://root@${h.address}`, "version", "--format", "{{.Server.Version}}"]),
        () => logTail(path.join(h.runDir, "sshd.log")));
}

/** Exit codes of dockerds started by this process that have exited, by host name. */
const exited = new Map<string, string>();

function startDockerd(h: HostLayout): void {
    fs.mkdirSync(h.execRoot, { recursive: true });
    fs.mkdirSync(h.dataRoot, { recursive: true });
    // Nothing of the machine's own daemon.json (registry mirrors, address pools) applies here.
    const config = path.join(h.runDir, "daemon.json");
    fs.writeFileSync(config, "{}\n");
    exited.delete(h.name);
    const out = fs.openSync(h.logFile, "a");
    const child = spawn("nsenter", [`--net=/var/run/netns/${h.name}`, "dockerd",
        "--data-root", h.dataRoot, "--exec-root", h.execRoot, "--pidfile", h.pidFile,
        "-H", `unix://${h.socket}`, "--bip", h.bip, "--cgroup-parent", h.name, "--config-file", config],
    { detached: true, stdio: ["ignore", out, out] });
    child.on("exit", (code, signal) => exited.set(h.name, signal ?? `exit code ${code}`));
    child.unref();
    fs.closeSync(out);
}

async function waitForDockerd(h: HostLayout, timeoutMs: number): Promise<void> {
    const answers = () => {
        const gone = exited.get(h.name);
        if (gone !== undefined) {
            throw new Error(`dockerd of ${h.name} stopped (${gone}); ${logTail(h.logFile)}`);
        }
        return tryRun("docker", ["-H", `unix://${h.socket}`, "info", "--format", "{{.ID}}"]);
    };
    await waitFor(`dockerd of ${h.name} answering on ${h.socket}`, timeoutMs, answers, () => logTail(h.logFile));
}

function loadImages(h: HostLayout, images: readonly string[]): void {
    for (const image of images) {
        run("bash", ["-o", "pipefail", "-c", 'docker save "$1" | docker -H "unix://$2" load -q', "load", image, h.socket]);
    }
}

function hasImages(h: HostLayout, ids: string[]): boolean {
    return ids.every((id) => tryRun("docker", ["-H", `unix://${h.socket}`, "image", "inspect", id]));
}

/** Seeds a data root from the cache: metadata copied, layers hard-linked. */
function seed(cache: string, dataRoot: string): void {
    fs.mkdirSync(dataRoot, { recursive: true });
    run("cp", ["-a", path.join(cache, "image"), `${dataRoot}/`]);
    run("cp", ["-a", "--link", path.join(cache, "overlay2"), `${dataRoot}/`]);
}

function dockerdPid(h: HostLayout): number {
    const pid = readPid(h.pidFile);
    if (pid === undefined || !alive(pid)) {
        throw new Error(`dockerd of ${h.name} is not running (${h.pidFile})`);
    }
    return pid;
}

function makeHost(l: Layout, h: HostLayout, timeoutMs: number, ssh: boolean): TestHost {
    const link = (state: "up" | "down") => run("ip", ["-n", l.switchNs, "link", "set", `h${h.index}`, state]);
    return {
        name: h.name,
        dockerHost: ssh ? `ssh://root@${h.address}` : `unix://${h.socket}`,
        socketHost: `unix://${h.socket}`,
        address: h.address,
        docker: (...args: string[]) => dockerOn(h.socket, args),
        lose: (parts = {}) => {
            if (parts.link !== false) {
                link("down");
            }
            process.kill(dockerdPid(h), "SIGSTOP");
        },
        restore: () => {
            process.kill(dockerdPid(h), "SIGCONT");
            link("up");
        },
        powerOff: async () => {
            link("down");
            await stopDockerd(h, timeoutMs);
        },
        powerOn: async () => {
            startDockerd(h);
            await waitForDockerd(h, timeoutMs);
            if (ssh) {
                // Stopping dockerd took everything in the namespace with it, sshd too; a boot starts it.
                startSshd(l, h);
            }
            link("up");
        },
    };
}

/**
 * Creates the hosts and waits until each engine answers with the images on it. Leftovers of an
 * earlier run of the same set are removed first. On failure everything made is removed again
 * and the error says which step and host failed.
 */
export async function createHostSet(options: HostSetOptions): Promise<HostSet> {
    const { set, subnet, count, images } = options;
    const timeoutMs = options.timeoutMs ?? 60_000;
    const log = options.log ?? ((line: string) => process.stderr.write(`[hosts] ${line}\n`));
    if (!Number.isInteger(count) || count < 1 || count > 4) {
        throw new Error(`host count ${count} is not allowed: 1 to 4`);
    }
    const l = layout(set, subnet);
    const hosts = Array.from({ length: count }, (_, i) => hostLayout(l, i));
    const timings: Record<string, number> = {};
    let started = Date.now();
    const step = (name: string) => {
        timings[name] = (Date.now() - started) / 1000;
        started = Date.now();
    };

    const leftovers = await removeHostSet(set, subnet);
    if (leftovers.length > 0) {
        log(`removed leftovers of an earlier run of set ${set}: ${leftovers.join(", ")}`);
    }
    step("cleanup");
    const teardown = async () => {
        const t = Date.now();
        await removeHostSet(set, subnet, timeoutMs);
        const left = hostSetLeftovers(set);
        if (left.length > 0) {
            throw new Error(`teardown of host set ${set} left: ${left.join(", ")}`);
        }
        log(`set ${set} torn down in ${((Date.now() - t) / 1000).toFixed(1)} s`);
    };
    try {
        const ids = imageIds(images);
        network(l, hosts);
        step("network");

        const cache = path.join(CACHE_ROOT, `images-${createHash("sha256").update(ids.join(",")).digest("hex").slice(0, 16)}`);
        if (fs.existsSync(path.join(cache, "overlay2"))) {
            hosts.forEach((h) => seed(cache, h.dataRoot));
            step("seed from cache");
        }
        hosts.forEach(startDockerd);
        await Promise.all(hosts.map((h) => waitForDockerd(h, timeoutMs)));
        step("dockerd start");

        const missing = hosts.filter((h) => !hasImages(h, ids));
        if (missing.length > 0) {
            // First run on this machine (or a cache that did not take): load into one host, keep
            // its image store as the cache, and seed the others from it.
            const first = missing[0];
            loadImages(first, images);
            step("load from main engine");
            await stopDockerd(first, timeoutMs);
            const partial = `${cache}.partial-${process.pid}`;
            fs.rmSync(partial, { recursive: true, force: true });
            fs.mkdirSync(partial, { recursive: true });
            seed(first.dataRoot, partial);
            fs.rmSync(cache, { recursive: true, force: true });
            fs.renameSync(partial, cache);
            log(`image cache written: ${cache}`);
            const others = missing.slice(1);
            await Promise.all(others.map((h) => stopDockerd(h, timeoutMs)));
            others.forEach((h) => seed(cache, h.dataRoot));
            missing.forEach(startDockerd);
            await Promise.all(missing.map((h) => waitForDockerd(h, timeoutMs)));
            const still = missing.filter((h) => !hasImages(h, ids));
            if (still.length > 0) {
                throw new Error(`images ${images.join(", ")} are missing on ${still.map((h) => h.name).join(", ")} after seeding from ${cache}`);
            }
            step("cache and restart");
        }
        if (options.ssh) {
            // After the images: stopping a dockerd above takes everything in its namespace with it.
            sshClient(l, hosts);
            hosts.forEach((h) => startSshd(l, h));
            await Promise.all(hosts.map((h) => waitForSsh(h, timeoutMs)));
            step("sshd start");
        }
        log(`set ${set}: ${hosts.map((h) => `${h.name} ${h.address}`).join(", ")}; ` +
            Object.entries(timings).map(([k, v]) => `${k} ${v.toFixed(1)} s`).join(", "));
        return { hosts: hosts.map((h) => makeHost(l, h, timeoutMs, options.ssh === true)), gateway: l.gateway, timings, teardown };
    } catch (err) {
        await teardown().catch((e) => log(`teardown after failure also failed: ${(e as Error).message}`));
        throw err;
    }
}
