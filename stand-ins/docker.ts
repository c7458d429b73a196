// Stand-in for the docker provider 5.0.0: pulumi-docker v5.0.0 (the TF bridge v3.126.0 over
// kreuzwerker/terraform-provider-docker v4.2.0), for exactly the resources and properties this
// program declares. Every behaviour is a row of RULES; anything else fails with StandInError.
//
// Reaching the engine is part of the behaviour: Configure's own unbounded ping (not for ssh://),
// the bridged provider's client made on first use (ping and version unless
// disableDockerDaemonCheck), the operation's context as the only deadline, ssh:// engines through
// `ssh` as docker/cli runs it. The client itself is docker-engine.ts.
//
// Not modelled, and refused or listed: TLS and npipe engines (StandInError); the race in which a
// connection freed while another is being dialed is handed to the waiting request (Go's
// transport does this; here the new connection is used); ssh's parent-death signal (Pdeathsig):
// ssh processes of a killed stand-in are not killed with it; proxies from the environment.

import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import {
    CallOptions, DockerClient, EngineError, EngineResponse, GoContext, Target, directTarget, singleFileTar, sshTarget, versionLessThan,
} from "./docker-engine";
import {
    CheckResult, DiffKind, DiffResult, hasUnknown, InitError, Props, ProviderContext, ResourceHandler, Rule,
    StandInError, StandInProvider, UNKNOWN,
} from "./provider";

const KW = "kreuzwerker/terraform-provider-docker@619686ddb44a889cb24fc194faf8361ef9f03738 internal/provider/";
const PD = "pulumi/pulumi-docker@c2baf6a4997f3f53052ee9284bcf2ef0cf8081ae provider/";
const TB = "pulumi/pulumi-terraform-bridge@v3.126.0 pkg/tfbridge/";
/** The Go modules pulumi-docker 5.0.0 builds with (provider/go.mod), read from the Go module cache. */
const DD = "docker/docker@v28.5.2 client/";
const DC = "docker/cli@v28.5.2 cli/connhelper/";
const GC = "docker/go-connections@v0.6.0 sockets/";
const SDK = "pulumi/terraform-plugin-sdk/v2@v2.0.0-20260318212141-5525259d096b helper/";
/**
 * The upstream SDK as pulumi/terraform-plugin-sdk mirrors it (branch upstream-v2.38.1), read where the
 * fork's own commit was not at hand.
 */
const SDKU = "hashicorp/terraform-plugin-sdk@v2.38.1 (pulumi/terraform-plugin-sdk 7f1981c8674a16b6510e63e2ada3c3b13089da01) helper/";
const GO = "go1.25.8 src/net/http/";
export const RULES: readonly Rule[] = [
    { id: "config.host", behaviour: "The engine is docker:host, else DOCKER_HOST (non-empty), else unix:///var/run/docker.sock; the docker CLI's current context (~/.docker/config.json) is never read.", source: `${PD}resources.go:95-101; ${KW}provider.go:45-57` },
    { id: "config.context", behaviour: "docker:context, else DOCKER_CONTEXT, overrides host: the endpoint 'docker'.Host of the context whose meta.json Name matches, under ~/.docker/contexts/meta/*/ of the home in the user database (user.Current(), not $HOME); an unknown name fails Configure with \"Error loading Docker context '<name>': context '<name>' not found\", a missing directory with \"...: could not read contexts directory: open <dir>: no such file or directory\".", source: `${KW}provider.go:59-64, 201-218, 257-294` },
    { id: "config.check", behaviour: "CheckConfig returns host and context as given; disableDockerDaemonCheck (bool) and sshOpts (list of strings) arrive as JSON text (the SDK JSON-encodes them; \"\" is the zero value) or as values, and go back as Go's json.Marshal text (\"true\", [\"-o\",\"X\"]); malformed values and any other key (TLS, registryAuth, ...) are not modelled and fail strictly.", source: `${TB}provider.go:514-585; ${TB}config_encoding.go:70-101, 116-164, 183-223; node_modules/@pulumi/docker/provider.js:38-46` },
    { id: "config.diff", behaviour: "DiffConfig reports changed keys but never replaces the provider: docker marks no config ForcesProviderReplace.", source: `${TB}provider.go:773-870; ${PD}resources.go:95-109` },
    { id: "config.native.ping", behaviour: "Configure runs pulumi-docker's own part first: a docker client for docker:host (else the plugin's DOCKER_HOST, else the default socket), pinged (HEAD /_ping) with context.Background(): no deadline, so Configure does not return while the engine accepts and never answers. A failed ping with an explicit host fails Configure: \"docker native provider returned an unexpected error from Configure: failed to connect to any docker daemon\".", source: `${PD}hybrid.go:72-80; ${PD}provider.go:80-104, 688-727; ${PD}image.go:922-983` },
    { id: "config.native.fallback", behaviour: "With no host configured and no DOCKER_HOST, a failed ping of the default socket is followed by pings of $HOME/.docker/run/docker.sock and $HOME/.docker/desktop/docker.sock; the first that answers is used.", source: `${PD}image.go:958-977` },
    { id: "config.native.docker-host", behaviour: "For a non-ssh host Configure sets DOCKER_HOST in the plugin process to the host it pinged; the bridged part's host defaults to it when docker:host is unset (its DefaultFunc reads DOCKER_HOST), so the fallback socket is used for resources too.", source: `${PD}provider.go:93-101; ${KW}provider.go:45-57, 201-217` },
    { id: "config.native.ssh", behaviour: "For an ssh:// host Configure builds the connection helper (its URL errors fail Configure) and dials nothing: no ping, DOCKER_HOST untouched.", source: `${PD}image.go:937-943, 1041-1062; ${PD}provider.go:95-101; ${DC}connhelper.go:38-66` },
    { id: "config.makeclient", behaviour: "The first operation that needs a client makes it (per provider instance; not cached while making it fails; concurrent first operations each make their own and the first stored is kept): a ping and GET /version under the operation's context; a failed ping fails the operation with \"failed to create Docker client: Error pinging Docker server, please make sure that <host> is reachable and has a  '_ping' endpoint. Error: <err>\"; a failed version call only logs a warning.", source: `${KW}config.go:115-210; ${KW}resource_docker_volume.go:167-170; ${KW}resource_docker_container_funcs.go:44-47` },
    { id: "config.daemon-check", behaviour: "disableDockerDaemonCheck: MakeClient neither pings nor asks the version, for any host; the first request then negotiates (one HEAD /_ping) before it is sent.", source: `${KW}config.go:193-204; ${KW}provider.go:163-168, 232; ${DD}client.go:279-314` },
    { id: "engine.negotiate", behaviour: "A client starts at API 1.51 and before its first versioned request pings once (under a lock that ignores contexts) and lowers its version to the daemon's API-Version (1.24 if absent); a failed ping is ignored (the request goes out as v1.51) and retried next time, except in NetworkCreate, ContainerCreate, ContainerWait, ImageList and VolumeRemove(force), which fail with the ping's error. Ping is HEAD /_ping, then GET /_ping unless HEAD failed to connect.", source: `${DD}client.go:279-314, 376-397; ${DD}ping.go:21-54; ${DD}network_create.go:12-29; ${DD}volume_remove.go:11-33; ${DD}image_list.go:19-29; ${DD}container_create.go:20-30; ${DD}container_wait.go:32-50; docker/docker@v28.5.2 api/common.go:6` },
    { id: "engine.errors", behaviour: "Failures are worded as doRequest words them: refused, unix-dial and dial-timeout errors \"Cannot connect to the Docker daemon at <host>. Is the docker daemon running?\"; other transport errors \"error during connect: <Method> \\\"<url>\\\": <err>\" (url host escaped, e.g. http://%2Fvar%2Frun%2Fdocker.sock; a closed connection is EOF); an ended context \"<Method> \\\"<url>\\\": context deadline exceeded\" undecorated; daemon answers \"Error response from daemon: <message>\". Query strings as url.Values.Encode writes them (sorted; booleans as 1).", source: `${DD}request.go:90-125, 127-189, 191-274; ${DD}errors.go:42-50; ${DD}container_list.go:14-47; ${DD}container_remove.go:11-29; ${GO}transport.go:715-727` },
    { id: "engine.deadline", behaviour: "No deadline but the operation's context: Configure's ping has none; every Create/Read/Update/Delete runs under the TF SDK's context.WithTimeout, customTimeouts (create/update/delete) else 20 min (Read 20 min), cancelled when the call returns; unix and tcp dials give up after 10 s; nothing else times out (no response-header timeout).", source: `${SDK}schema/resource.go:835-902; ${SDK}schema/resource_data.go:552-583; ${TB}provider.go:1318-1329, 1683-1695, 1828-1830, 2084-2089; ${GC}sockets.go:13-16, 28-64; ${DD}client.go:250-268` },
    { id: "engine.keepalive", behaviour: "Connections are HTTP/1.1 keep-alive: a request takes the most recently used idle connection or dials a new one; at most 2 stay idle per client (more are closed), each closed after 30 s idle or when the engine closes it; a reused connection that fails before answering is retried on another for GET/HEAD or when nothing was written.", source: `${DD}client.go:250-268; ${GO}transport.go:60, 808-845, 1040-1044, 1052-1140, 1173-1200, 2167-2180, 2420-2440` },
    { id: "ssh.argv", behaviour: "An ssh:// engine runs `ssh` found on the plugin's PATH with: [-l user] [-p port], the sshOpts elements as given, \"-o ConnectTimeout=30\" as ONE element unless an element contains ConnectTimeout, \"-T\" unless given, \"--\", host, and the remote command as one shell-quoted string: docker system dial-stdio, or docker '--host=unix://<path>' system dial-stdio when the URL has a path. A password, query or fragment or an empty host is refused with the helper's message.", source: `${DC}connhelper.go:38-98; ${DC}ssh/ssh.go:30-71, 103-183; ${DC}internal/syntax/quote.go:50-181; ${DC}internal/syntax/parser.go:67-95` },
    { id: "ssh.commandconn", behaviour: "HTTP/1.1 over ssh's stdin/stdout (Host docker.example.com); ssh runs in its own session with the plugin's environment and is not killed when a request's context ends (only when its connection is closed: SIGTERM, SIGKILL 3 s later). When its stdout ends the exit is awaited (10 s): \"command [ssh <argv>] has exited with exit status N, make sure the URL is valid, and Docker 18.09 or later is installed on the remote host: stderr=<stderr>\"; a write to an exited ssh \"write |1: broken pipe\"; no ssh on PATH \"exec: \\\"ssh\\\": executable file not found in $PATH\". No timeout but ssh's own.", source: `${DC}commandconn/commandconn.go:35-73, 120-162, 182-245, 283-298; ${DD}options.go:52-78` },
    { id: "engine.unmodelled", behaviour: "TLS engines (certPath, caMaterial/certMaterial/keyMaterial, DOCKER_CERT_PATH and the like), npipe:// and other host forms, DOCKER_SSH_OPTS and proxies are not modelled: StandInError naming what is missing.", source: `stand-in policy; TLS is ${PD}image.go:1004-1040 and ${KW}config.go:129-165` },
    { id: "check.defaults", behaviour: "Check fills the TF schema defaults into the stored inputs (top level and inside list elements) and lists the filled names in __defaults; an old value that was a default is kept.", source: `${TB}provider.go:930-1066; ${TB}schema.go:738-973` },
    { id: "check.validate", behaviour: "restart must match ^(no|on-failure|always|unless-stopped)$ and health-check durations must parse as Go durations >= 0; otherwise a check failure with the provider's message.", source: `${KW}resource_docker_container.go:230-236, 1045-1096; ${KW}validators.go:92-140` },
    { id: "check.validate.host-path", behaviour: "Every volumes[].hostPath that is present (\"\" too) must match ^[a-zA-Z]:[\\\\/]|^/, else a check failure \"'<v>' must be an absolute path\" at property \"volumes\" (the SDK cuts a set element's path back to the set); a volumes value holding any unknown is not validated at all (the SDK skips a list or set that is not wholly known).", source: `${KW}resource_docker_container.go:453-459; ${KW}validators.go:161-176; ${SDKU}schema/schema.go:611-630, 1825-1923, 2065-2150, 2488-2510; ${TB}provider.go:1031-1040; ${TB}adapt_check_failures.go:64-134` },
    { id: "check.unmodelled", behaviour: "Any property this stand-in does not model fails Check with a StandInError naming it (\"not modelled by the stand-in\").", source: "stand-in policy (pg-replication team rules: strict when unsure)" },
    { id: "diff.computed", behaviour: "Diff compares the checked inputs with the stored outputs; an Optional+Computed attribute left unset never diffs, an unset Optional one diffs only against a non-zero stored value; sets compare without order.", source: `${TB}provider.go:1095-1280 (TF SDK v2 schemaMap.Diff)` },
    { id: "network.diff", behaviour: "Every Network attribute we use (name, driver, ipamConfigs, labels, ipamDriver) is ForceNew: any change replaces; no DeleteBeforeReplace from the provider.", source: `${KW}resource_docker_network.go:25-130; ${TB}provider.go:1252-1253` },
    { id: "network.create", behaviour: "NetworkCreate with labels, driver, IPAM {Driver: ipam_driver, Config: ipam_config} (CheckDuplicate on APIs < 1.44), then Read.", source: `${KW}resource_docker_network_funcs.go:26-84` },
    { id: "network.read", behaviour: "Read waits 2 s, then inspects: name, labels, driver, internal, attachable, ingress, ipv6, ipamDriver, ipamOptions, scope, options, ipamConfigs (subnet, ipRange, gateway, auxAddress when set). ANY inspect error reads as gone, a refused or silent engine too (with disableDockerDaemonCheck nothing catches that earlier, so a refresh drops the network from state).", source: `${KW}resource_docker_network_funcs.go:86-110, 155-200; ${KW}resource_docker_network_structures.go:11-38` },
    { id: "network.delete", behaviour: "Delete waits 2 s, treats ANY inspect error as removed (so, with disableDockerDaemonCheck, deleting on a refused engine succeeds without removing anything), retries \"has active endpoints\" after 5 s then every 10 s, and fails after 30 s: \"timeout while waiting for state to become 'removed' (last state: 'pending', timeout: 30s)\".", source: `${KW}resource_docker_network_funcs.go:17-24, 110-137, 202-224` },
    { id: "volume.diff", behaviour: "Volume name, labels and driver are ForceNew (name and driver Optional+Computed).", source: `${KW}resource_docker_volume.go:37-70` },
    { id: "volume.create", behaviour: "VolumeCreate with name, labels, driver; the id is the volume name; then Read: name, labels, driver, driverOpts, mountpoint; a missing volume is gone.", source: `${KW}resource_docker_volume.go:160-312` },
    { id: "volume.delete", behaviour: "Delete waits 2 s, removes with force=1, retries \"volume is in use\" (5 s, then 10 s) up to 30 s; other errors fail at once. The remove runs with context.Background(): it is not cut when the operation's context ends.", source: `${KW}resource_docker_volume.go:362-386, 429-445` },
    { id: "volume.update", behaviour: "Update makes the client (a ping unless the daemon check is off) and applies nothing this program uses (only cluster.availability).", source: `${KW}resource_docker_volume.go:388-427` },
    { id: "state.wait", behaviour: "Network read/delete and volume delete wait with retry.StateChangeConf: after Delay a refresh, then waits of 2^n x 100 ms bounded to [MinTimeout, 10 s]; at Timeout (from the start) no more refreshes, one in flight gets 30 s of grace, then \"timeout while waiting for state to become '<targets>' ([last state: '<s>', ]timeout: 30s)\"; the operation's context ending first ends the wait with its error.", source: `${SDK}retry/state.go:12, 60-274; ${SDK}retry/error.go:56-90` },
    { id: "image.local", behaviour: "RemoteImage uses a local image of that name (inspect, then the non-dangling image list) without pulling; id = image id + name; imageId = sha256 id; repoDigest = its only RepoDigest, or the one starting with the name without tag, else \"\".", source: `${KW}resource_docker_image_funcs.go:34-54, 100-127, 162-184, 224-250, 349-386; ${KW}data_source_docker_image.go:63-100` },
    { id: "image.nopull", behaviour: "Where the real provider would pull (no local image of that name), the stand-in fails: it never pulls.", source: `stand-in policy; the pull is ${KW}resource_docker_image_funcs.go:362-366` },
    { id: "image.diff", behaviour: "name, platform, pullTriggers, triggers replace; keepLocally and forceRemove update in place (Update re-finds the image and reads it).", source: `${KW}resource_docker_image.go:35-110; ${KW}resource_docker_image_funcs.go:129-144` },
    { id: "image.delete", behaviour: "Delete makes the client first (so keepLocally still pings unless the daemon check is off); keepLocally true: nothing more; else the image is removed by name (force=1 when forceRemove) if still local; errors \"Unable to remove Docker image: ...\".", source: `${KW}resource_docker_image_funcs.go:150-222` },
    { id: "container.diff.replace", behaviour: "name, image, hostname, command, envs, labels, uploads, networksAdvanced, ports, volumes (every field: volumeName, hostPath, containerPath, readOnly), stopSignal, stopTimeout, readOnly, networkMode, tty, stdinOpen are ForceNew: a change replaces; networkMode left unset is its default \"bridge\", so dropping \"none\" from config replaces too.", source: `${KW}resource_docker_container.go:49-1000 (ForceNew flags), 434-481, 901-907` },
    { id: "container.diff.update", behaviour: "healthcheck, wait, waitTimeout, restart, maxRetryCount, mustRun, destroyGraceSeconds, removeVolumes are not ForceNew: a change is an in-place update.", source: `${KW}resource_docker_container.go:76-128, 230-242, 826-830, 1045-1096` },
    { id: "container.diff.ports", behaviour: "ports differences are suppressed when old and new have the same length and every old port's internal port is in new with the same protocol, external and ip; a different length never suppresses.", source: `${KW}resource_docker_container.go:1192-1245` },
    { id: "container.dbr", behaviour: "A container replacement is always delete-before-replace (forced by pulumi-docker).", source: `${PD}resources.go:114-116; ${TB}provider.go:1252-1253` },
    { id: "container.create.sequence", behaviour: "The image must be local (no pull here); GET /info (container.create.info); ContainerCreate (Init=false, RestartPolicy, PortBindings, NetworkMode, Binds source:path:rw|ro, Healthcheck in ns, Env, Cmd, Labels); with networksAdvanced: disconnect from bridge, NetworkConnect each with its ipv4Address; uploads; start; wait; then Read.", source: `${KW}resource_docker_container_funcs.go:43-503, 584-628, 673` },
    { id: "container.create.info", behaviour: "network_mode always has a value (its default \"bridge\"), so Create asks GET /info after building the request (a command or volumes error comes first) and before ContainerCreate, under the operation's context (it negotiates like any request); any error is ignored; with \"bridge\" and an OSType not containing \"linux\" (\"\" when Info failed) it logs the non-Linux warning.", source: `${KW}resource_docker_container_funcs.go:83-90, 125-129, 392-399, 456; ${DD}info.go:12-26` },
    { id: "container.network-mode", behaviour: "networkMode (Optional, ForceNew, default \"bridge\") goes to HostConfig.NetworkMode as given and reads back from HostConfig.NetworkMode. The provider passes any string; the stand-in models \"bridge\" and \"none\" and refuses any other value with a StandInError. On \"none\" the engine reports Bridge \"\", no Ports and one entry in NetworkSettings.Networks, \"none\", with empty addresses: networkDatas is [{networkName \"none\", \"\" and 0 elsewhere}], bridge \"\", ports [], and \"none\" read back against \"none\" in config does not diff.", source: `${KW}resource_docker_container.go:901-907; ${KW}resource_docker_container_funcs.go:392-399, 783-808, 950; ${KW}resource_docker_container_structures.go:35-81; docker run --network none on Docker 20.10.24, docker inspect` },
    { id: "container.volumes.host-path", behaviour: "volumes[].hostPath (Optional, ForceNew, no default, so nothing is filled in by Check): with volumeName empty it is the bind's source, Binds \"<hostPath>:<containerPath>:rw\" (\":ro\" when readOnly) and Volumes[containerPath] = {}; volumeName wins when both are set; with neither only Volumes[containerPath]. volumes is never read back.", source: `${KW}resource_docker_container.go:434-481; ${KW}resource_docker_container_structures.go:289-328; ${KW}resource_docker_container_funcs.go:121-133, 276-278, 880` },
    { id: "container.create.uploads", behaviour: "Each upload is one tar entry named by file, mode 0644 (0744 if executable, permissions wins), copied to / before start.", source: `${KW}resource_docker_container_funcs.go:505-582` },
    { id: "container.create.wait", behaviour: "wait polls inspect every second until Health.Status is healthy; after waitTimeout seconds: \"container failed to be in healthy state\"; with no healthcheck: the 'wait' without healthcheck error.", source: `${KW}resource_docker_container_funcs.go:590-628` },
    { id: "container.create.initerror", behaviour: "A failure after ContainerCreate (network, upload, start, wait) leaves the container and is reported as an initialization error carrying its id, with the planned state as outputs.", source: `${KW}resource_docker_container_funcs.go:460; ${TB}provider.go:1335-1390` },
    { id: "container.read.healthcheck", behaviour: "healthcheck reads back from Config.Healthcheck with Go Duration.String() spellings (\"2m0s\", \"1s\", \"0s\").", source: `${KW}resource_docker_container_funcs.go:954-965` },
    { id: "container.read.env-labels", behaviour: "envs, labels, uploads and volumes are never read back: the stored values stay.", source: `${KW}resource_docker_container_funcs.go:888-894` },
    { id: "container.read.networks", behaviour: "networksAdvanced is read back only when empty (import); networkDatas lists every attached network (name, ipAddress, ipPrefixLength, gateway, ipv6, macAddress); bridge from NetworkSettings.Bridge.", source: `${KW}resource_docker_container_funcs.go:783-808; ${KW}resource_docker_container_structures.go:61-81` },
    { id: "container.read.ports", behaviour: "ports are rebuilt from NetworkSettings.Ports, sorted by port, one entry per binding (internal, external, ip as Docker reports HostIp, protocol), when running or mustRun.", source: `${KW}resource_docker_container_funcs.go:797-804; ${KW}resource_docker_container_structures.go:35-59` },
    { id: "container.read.image", behaviour: "image reads back as the container's sha256 Image when the stored value starts with sha256:, else as Config.Image (the name as given, e.g. postgres:13).", source: `${KW}resource_docker_container_funcs.go:836-843` },
    { id: "container.read.stopped", behaviour: "A container that is not running reads back exitCode and mustRun=false, so the next up updates it and Update starts it again.", source: `${KW}resource_docker_container_funcs.go:810-825, 991-1007` },
    { id: "container.read.gone", behaviour: "A container missing from the container list (all=1) reads as gone (dropped from state on refresh); a failed list is an error: \"error fetching container information from Docker: <err>\\n\".", source: `${KW}resource_docker_container_funcs.go:762-773, 1127-1141` },
    { id: "container.update.applies", behaviour: "Update applies only restart, maxRetryCount, cpu and memory settings (ContainerUpdate) and starts a container whose mustRun went false -> true; healthcheck, wait, waitTimeout, destroyGraceSeconds change the state only. No read follows.", source: `${KW}resource_docker_container_funcs.go:985-1071` },
    { id: "container.delete.stop", behaviour: "Delete stops with timeout destroyGraceSeconds (0 when unset: the stop signal then an immediate kill), removes with force and v=removeVolumes, then waits for not-running.", source: `${KW}resource_docker_container_funcs.go:1073-1125` },
    { id: "container.delete.gone", behaviour: "Deleting a container that is already gone succeeds (\"No such container\" is ignored at stop, remove and wait).", source: `${KW}resource_docker_container_funcs.go:1086-1122; ${KW}helpers.go:113-121` },
    { id: "preview", behaviour: "In preview Create and Update return the planned state with computed attributes unknown and touch nothing.", source: `${TB}provider.go:1335-1356` },
    { id: "secrets.none", behaviour: "No attribute of Network, Volume, RemoteImage or Container is sensitive in the schema (uploads content included): outputs are secret only where the input was.", source: `${PD}cmd/pulumi-resource-docker/schema.json; ${KW}provider.go:126 (only registry_auth.password, not modelled)` },
];

// ---------------------------------------------------------------------------------------------
// Go durations (time.ParseDuration / Duration.String)

const UNIT_NS: Record<string, number> = { ns: 1, us: 1e3, "µs": 1e3, "μs": 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

/** Nanoseconds, or undefined when Go's time.ParseDuration would reject the text. */
export function parseGoDuration(text: string): number | undefined {
    let s = text;
    let sign = 1;
    if (s.startsWith("-") || s.startsWith("+")) {
        sign = s[0] === "-" ? -1 : 1;
        s = s.slice(1);
    }
    if (s === "0") {
        return 0;
    }
    if (s === "") {
        return undefined;
    }
    let total = 0;
    const re = /^(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/;
    while (s !== "") {
        const m = re.exec(s);
        if (!m) {
            return undefined;
        }
        total += Number(m[1]) * UNIT_NS[m[2]];
        s = s.slice(m[0].length);
    }
    return sign * Math.round(total);
}

/** Go's Duration.String(). */
export function formatGoDuration(ns: number): string {
    if (ns === 0) {
        return "0s";
    }
    const neg = ns < 0 ? "-" : "";
    const d = Math.abs(ns);
    const trim = (v: string) => v.replace(/\.?0+$/, "");
    if (d < 1e3) {
        return `${neg}${d}ns`;
    }
    if (d < 1e6) {
        return `${neg}${trim((d / 1e3).toFixed(3))}µs`;
    }
    if (d < 1e9) {
        return `${neg}${trim((d / 1e6).toFixed(6))}ms`;
    }
    const h = Math.floor(d / 3600e9);
    const m = Math.floor((d % 3600e9) / 60e9);
    const secNs = d % 60e9;
    const secs = secNs % 1e9 === 0 ? String(secNs / 1e9) : trim((secNs / 1e9).toFixed(9));
    return h > 0 ? `${neg}${h}h${m}m${secs}s` : m > 0 ? `${neg}${m}m${secs}s` : `${neg}${secs}s`;
}

// ---------------------------------------------------------------------------------------------
// Schemas: the attributes we model, with their TF flags

type Kind = "scalar" | "list" | "set" | "object";

interface Attr {
    readonly kind: Kind;
    readonly forceNew?: boolean;
    readonly computed?: boolean;
    /** TF schema default, applied by Check. */
    readonly default?: unknown;
    /** Only this value is modelled (the stand-in does not implement the others). */
    readonly onlyDefault?: boolean;
    /** Only these values are modelled (the provider accepts others; the stand-in refuses them). */
    readonly only?: readonly unknown[];
    /** For list/set/object of objects: the modelled fields and their defaults. */
    readonly fields?: Readonly<Record<string, { readonly default?: unknown }>>;
}

type Schema = Readonly<Record<string, Attr>>;

const LABEL_FIELDS = { label: {}, value: {} };

const NETWORK: Schema = {
    name: { kind: "scalar", forceNew: true },
    driver: { kind: "scalar", forceNew: true, computed: true },
    ipamConfigs: { kind: "set", forceNew: true, computed: true, fields: { subnet: {}, gateway: {}, ipRange: {} } },
    labels: { kind: "set", forceNew: true, fields: LABEL_FIELDS },
    ipamDriver: { kind: "scalar", forceNew: true, default: "default", onlyDefault: true },
};

const VOLUME: Schema = {
    name: { kind: "scalar", forceNew: true, computed: true },
    labels: { kind: "set", forceNew: true, fields: LABEL_FIELDS },
    driver: { kind: "scalar", forceNew: true, computed: true },
};

const IMAGE: Schema = {
    name: { kind: "scalar", forceNew: true },
    keepLocally: { kind: "scalar" },
    forceRemove: { kind: "scalar" },
    platform: { kind: "scalar", forceNew: true, default: "", onlyDefault: true },
};

const CONTAINER: Schema = {
    name: { kind: "scalar", forceNew: true },
    image: { kind: "scalar", forceNew: true },
    hostname: { kind: "scalar", forceNew: true, computed: true },
    command: { kind: "list", forceNew: true, computed: true },
    envs: { kind: "set", forceNew: true, computed: true },
    labels: { kind: "set", forceNew: true, computed: true, fields: LABEL_FIELDS },
    uploads: { kind: "set", forceNew: true, fields: { file: {}, content: {}, executable: { default: false }, permissions: {} } },
    networksAdvanced: { kind: "set", forceNew: true, fields: { name: {}, ipv4Address: {} } },
    ports: { kind: "list", forceNew: true, fields: { internal: {}, external: {}, ip: { default: "0.0.0.0" }, protocol: { default: "tcp" } } },
    volumes: { kind: "set", forceNew: true, fields: { volumeName: {}, hostPath: {}, containerPath: {}, readOnly: {} } },
    healthcheck: {
        kind: "object", computed: true,
        fields: { tests: {}, interval: { default: "0s" }, timeout: { default: "0s" }, startPeriod: { default: "0s" }, startInterval: { default: "0s" }, retries: { default: 0 } },
    },
    stopSignal: { kind: "scalar", forceNew: true, computed: true },
    stopTimeout: { kind: "scalar", forceNew: true, computed: true },
    wait: { kind: "scalar", default: false },
    waitTimeout: { kind: "scalar", default: 60 },
    restart: { kind: "scalar", default: "no" },
    maxRetryCount: { kind: "scalar" },
    mustRun: { kind: "scalar", default: true },
    destroyGraceSeconds: { kind: "scalar" },
    removeVolumes: { kind: "scalar", default: true },
    containerReadRefreshTimeoutMilliseconds: { kind: "scalar", default: 15000 },
    // Any string goes through to HostConfig.NetworkMode; only these two are modelled and tested.
    networkMode: { kind: "scalar", forceNew: true, default: "bridge", only: ["bridge", "none"] },
    // Defaults the bridge fills in; only their default behaviour is modelled.
    rm: { kind: "scalar", default: false, onlyDefault: true },
    readOnly: { kind: "scalar", forceNew: true, default: false, onlyDefault: true },
    start: { kind: "scalar", default: true, onlyDefault: true },
    attach: { kind: "scalar", default: false, onlyDefault: true },
    logs: { kind: "scalar", default: false, onlyDefault: true },
    memoryReservation: { kind: "scalar", default: 0, onlyDefault: true },
    tty: { kind: "scalar", forceNew: true, default: false, onlyDefault: true },
    stdinOpen: { kind: "scalar", forceNew: true, default: false, onlyDefault: true },
};

/** Every attribute of the Container schema: outputs carry them all, null where nothing sets them. */
const CONTAINER_ALL = ["attach", "bridge", "capabilities", "cgroupParent", "cgroupnsMode", "command", "containerLogs",
    "containerReadRefreshTimeoutMilliseconds", "cpuPeriod", "cpuQuota", "cpuSet", "cpuShares", "cpus", "destroyGraceSeconds",
    "deviceReadBps", "deviceReadIops", "deviceRequests", "deviceWriteBps", "deviceWriteIops", "devices", "dns", "dnsOpts",
    "dnsSearches", "domainname", "entrypoints", "envs", "exitCode", "gpus", "groupAdds", "healthcheck", "hostname", "hosts",
    "image", "init", "ipcMode", "labels", "logDriver", "logOpts", "logs", "maxRetryCount", "memory", "memoryReservation",
    "memorySwap", "mounts", "mustRun", "name", "networkDatas", "networkMode", "networksAdvanced", "pidMode", "platform", "ports",
    "privileged", "publishAllPorts", "readOnly", "removeVolumes", "restart", "rm", "runtime", "securityOpts", "shmSize", "start",
    "stdinOpen", "stopSignal", "stopTimeout", "storageOpts", "sysctls", "tmpfs", "tty", "ulimits", "uploads", "user",
    "usernsMode", "volumes", "wait", "waitTimeout", "workingDir"];
const NETWORK_ALL = ["attachable", "driver", "ingress", "internal", "ipamConfigs", "ipamDriver", "ipamOptions", "ipv6", "labels", "name", "options", "scope"];
const VOLUME_ALL = ["cluster", "driver", "driverOpts", "labels", "mountpoint", "name"];
const IMAGE_ALL = ["build", "forceRemove", "imageId", "keepLocally", "name", "platform", "pullTriggers", "repoDigest", "triggers"];

const DEFAULTS_KEY = "__defaults";

// ---------------------------------------------------------------------------------------------
// Check

function checkInputs(type: string, schema: Schema, olds: Props, news: Props): Props {
    const out: Props = {};
    for (const [key, value] of Object.entries(news)) {
        if (key === DEFAULTS_KEY || value === null || value === undefined) {
            continue;
        }
        const attr = schema[key];
        if (!attr) {
            throw new StandInError(`${type}: property "${key}" is not modelled by the stand-in`);
        }
        if (attr.onlyDefault && value !== UNKNOWN && value !== attr.default) {
            throw new StandInError(`${type}: property "${key}" = ${JSON.stringify(value)} is not modelled by the stand-in (only its default ${JSON.stringify(attr.default)})`);
        }
        if (attr.only && value !== UNKNOWN && !attr.only.includes(value)) {
            throw new StandInError(`${type}: property "${key}" = ${JSON.stringify(value)} is not modelled by the stand-in (only ${attr.only.map((v) => JSON.stringify(v)).join(", ")})`);
        }
        out[key] = attr.fields ? withNestedDefaults(type, key, attr, value) : value;
    }
    // Top-level TF defaults; an old value that was itself a default is kept (bridge schema.go:938-958).
    const oldDefaults = Array.isArray(olds[DEFAULTS_KEY]) ? new Set<string>(olds[DEFAULTS_KEY]) : undefined;
    const filled: string[] = [];
    for (const [key, attr] of Object.entries(schema)) {
        if (attr.default === undefined || key in out) {
            continue;
        }
        const useOld = key in olds && olds[key] !== null && (oldDefaults === undefined || oldDefaults.has(key));
        out[key] = useOld ? olds[key] : attr.default;
        filled.push(key);
    }
    out[DEFAULTS_KEY] = filled.sort();
    return out;
}

function withNestedDefaults(type: string, key: string, attr: Attr, value: unknown): unknown {
    const fill = (element: unknown): unknown => {
        if (typeof element !== "object" || element === null || Array.isArray(element)) {
            return element;
        }
        const result: Props = {};
        for (const [field, v] of Object.entries(element as Props)) {
            if (field === DEFAULTS_KEY || v === null || v === undefined) {
                continue;
            }
            if (!attr.fields![field]) {
                throw new StandInError(`${type}: property "${key}.${field}" is not modelled by the stand-in`);
            }
            result[field] = v;
        }
        const filled: string[] = [];
        for (const [field, spec] of Object.entries(attr.fields!)) {
            if (spec.default !== undefined && !(field in result)) {
                result[field] = spec.default;
                filled.push(field);
            }
        }
        result[DEFAULTS_KEY] = filled.sort();
        return result;
    };
    if (value === UNKNOWN) {
        return value;
    }
    return attr.kind === "object" ? fill(value) : Array.isArray(value) ? value.map(fill) : value;
}

function containerFailures(inputs: Props): { property: string; reason: string }[] {
    const failures: { property: string; reason: string }[] = [];
    const pattern = "^(no|on-failure|always|unless-stopped)$";
    if (typeof inputs.restart === "string" && !new RegExp(pattern).test(inputs.restart)) {
        failures.push({ property: "restart", reason: `'${inputs.restart}' doesn't match the pattern '${pattern}'` });
    }
    const hc = inputs.healthcheck;
    if (hc && typeof hc === "object") {
        for (const field of ["interval", "timeout", "startPeriod", "startInterval"]) {
            const v = hc[field];
            if (typeof v !== "string" || v === UNKNOWN) {
                continue;
            }
            const ns = parseGoDuration(v);
            if (ns === undefined) {
                failures.push({ property: `healthcheck.${field}`, reason: `'${v}' is not a valid duration` });
            } else if (ns < 0) {
                failures.push({ property: `healthcheck.${field}`, reason: `'${v}' duration must not be negative` });
            }
        }
    }
    // validateDockerContainerPath on each volumes[].hostPath present (an empty one too). The SDK
    // skips a set that holds any unknown, and reports a set element's failure at the set itself.
    if (Array.isArray(inputs.volumes) && !hasUnknown(inputs.volumes)) {
        for (const v of inputs.volumes) {
            const hostPath = v && typeof v === "object" ? v.hostPath : undefined;
            if (typeof hostPath === "string" && !/^[a-zA-Z]:[\\/]|^\//.test(hostPath)) {
                failures.push({ property: "volumes", reason: `'${hostPath}' must be an absolute path` });
            }
        }
    }
    for (const port of Array.isArray(inputs.ports) ? inputs.ports : []) {
        if (port && typeof port === "object" && port.external === undefined) {
            throw new StandInError("docker:index/container:Container: a port without \"external\" (a random host port) is not modelled by the stand-in");
        }
    }
    return failures;
}

// ---------------------------------------------------------------------------------------------
// Diff

/** TF's view of "unset": null, "", 0, false, empty list/object, and the bridge's __defaults bookkeeping. */
function normalize(value: unknown): unknown {
    if (value === null || value === undefined || value === "" || value === 0 || value === false) {
        return undefined;
    }
    if (Array.isArray(value)) {
        const items = value.map(normalize).filter((v) => v !== undefined);
        return items.length === 0 ? undefined : items;
    }
    if (typeof value === "object") {
        const entries = Object.entries(value as Props)
            .filter(([k]) => k !== DEFAULTS_KEY)
            .map(([k, v]) => [k, normalize(v)] as const)
            .filter(([, v]) => v !== undefined)
            .sort(([a], [b]) => a.localeCompare(b));
        return entries.length === 0 ? undefined : Object.fromEntries(entries);
    }
    return value;
}

function sameValue(attr: Attr, a: unknown, b: unknown): boolean {
    const na = normalize(a);
    const nb = normalize(b);
    if (attr.kind === "set" && Array.isArray(na) && Array.isArray(nb)) {
        const key = (v: unknown) => JSON.stringify(v);
        return na.length === nb.length && JSON.stringify(na.map(key).sort()) === JSON.stringify(nb.map(key).sort());
    }
    return JSON.stringify(na) === JSON.stringify(nb);
}

/** suppressIfPortsDidNotChangeForMigrationV0ToV1, over whole lists. */
function portsSuppressed(olds: unknown, news: unknown): boolean {
    const o = Array.isArray(olds) ? olds as Props[] : [];
    const n = Array.isArray(news) ? news as Props[] : [];
    if (o.length !== n.length) {
        return false;
    }
    return o.every((op) => {
        for (const np of n) {
            if (np.internal !== op.internal) {
                continue;
            }
            if (np.protocol !== op.protocol) {
                if (n.some((p) => p.internal === op.internal && p.protocol === op.protocol)) {
                    continue;
                }
                return false;
            }
            return np.external === op.external && np.ip === op.ip;
        }
        return false;
    });
}

function applyIgnoreChanges(type: string, news: Props, oldInputs: Props, ignoreChanges: readonly string[]): Props {
    const result = { ...news };
    for (const p of ignoreChanges) {
        if (!/^[A-Za-z0-9_]+$/.test(p)) {
            throw new StandInError(`${type}: ignoreChanges path "${p}" (below the top level) is not modelled by the stand-in`);
        }
        if (p in oldInputs) {
            result[p] = oldInputs[p];
        } else {
            delete result[p];
        }
    }
    return result;
}

function diffAgainstState(type: string, schema: Schema, oldOutputs: Props, news: Props, dbr: boolean): DiffResult {
    const diffs: string[] = [];
    const replaces: string[] = [];
    const detailedDiff: Record<string, DiffKind> = {};
    for (const [key, attr] of Object.entries(schema)) {
        const nv = news[key];
        const ov = oldOutputs[key];
        if (nv === undefined || nv === null) {
            if (attr.computed || normalize(ov) === undefined) {
                continue;
            }
        } else if (!hasUnknown(nv)) {
            if (sameValue(attr, ov, nv)) {
                continue;
            }
            if (type === "docker:index/container:Container" && key === "ports" && portsSuppressed(ov, nv)) {
                continue;
            }
        }
        diffs.push(key);
        const base: "add" | "delete" | "update" = normalize(ov) === undefined ? "add" : (nv === undefined || nv === null) ? "delete" : "update";
        if (attr.forceNew) {
            replaces.push(key);
            detailedDiff[key] = `${base}-replace` as DiffKind;
        } else {
            detailedDiff[key] = base;
        }
    }
    return {
        changes: diffs.length > 0 ? "some" : "none",
        replaces: replaces.sort(),
        diffs: diffs.sort(),
        deleteBeforeReplace: dbr && replaces.length > 0,
        detailedDiff,
    };
}

// ---------------------------------------------------------------------------------------------
// Engine access

const DEFAULT_HOST = "unix:///var/run/docker.sock";

/** The host the provider would talk to for this configuration, resolved as Configure does. */
export function resolveHost(config: Props, env: NodeJS.ProcessEnv = process.env, home = os.userInfo().homedir): string {
    const contextName = config.context || env.DOCKER_CONTEXT || "";
    if (contextName) {
        const dir = path.join(home, ".docker", "contexts", "meta");
        let entries: string[];
        try {
            entries = fs.readdirSync(dir);
        } catch (err) {
            // os.ReadDir's *PathError; other causes than a missing directory are not modelled.
            if ((err as NodeJS.ErrnoException).code !== "ENOENT") {
                throw new StandInError(`reading ${dir}: ${(err as Error).message} is not modelled by the stand-in`);
            }
            throw new Error(`Error loading Docker context '${contextName}': could not read contexts directory: open ${dir}: no such file or directory`);
        }
        for (const entry of entries) {
            try {
                const meta = JSON.parse(fs.readFileSync(path.join(dir, entry, "meta.json"), "utf8"));
                if (meta.Name === contextName && meta.Endpoints?.docker) {
                    return meta.Endpoints.docker.Host;
                }
            } catch {
                // skipped, as the provider skips unreadable meta files
            }
        }
        throw new Error(`Error loading Docker context '${contextName}': context '${contextName}' not found`);
    }
    return config.host || env.DOCKER_HOST || DEFAULT_HOST;
}

/**
 * A provider instance as Configure leaves it: the plugin process's environment (one process per
 * provider: Configure's os.Setenv of DOCKER_HOST stays in it) and the bridged provider's Config,
 * with its client cache (MakeClient caches per config hash; within one instance that is one client).
 */
export interface DockerInstance {
    readonly env: NodeJS.ProcessEnv;
    readonly host: string;
    readonly sshOpts: readonly string[];
    readonly disableDockerDaemonCheck: boolean;
    cached?: DockerClient;
}

/** The docker client bound to one operation's context. */
interface Engine {
    readonly client: DockerClient;
    call(method: string, apiPath: string, opts?: CallOptions): Promise<EngineResponse>;
    /** cli.checkVersion: negotiate now, failing with the ping's error. */
    checkVersion(): Promise<void>;
    /** ClientVersion(). */
    readonly version: string;
}

function instanceOf(ctx: ProviderContext): DockerInstance {
    const instance = ctx.instance as DockerInstance | undefined;
    if (!instance) {
        throw new StandInError("docker: a resource call on a provider that was not configured (Configure makes the instance)");
    }
    return instance;
}

function bind(c: DockerClient, op: GoContext): Engine {
    return {
        client: c,
        call: (method, apiPath, opts) => c.call(op, method, apiPath, opts),
        checkVersion: () => c.checkVersion(op),
        get version() {
            return c.version;
        },
    };
}

/** The client a bridged (TF) provider instance makes for its host: the connection helper for ssh://. */
function tfTarget(instance: DockerInstance): Target {
    return instance.host.startsWith("ssh://") ? sshTarget(instance.host, instance.sshOpts, instance.env) : directTarget(instance.host);
}

/** MakeClient under an operation's context: cached once made; pinged first unless disableDockerDaemonCheck. */
async function client(ctx: ProviderContext, op: GoContext): Promise<Engine> {
    const instance = instanceOf(ctx);
    if (instance.cached) {
        return bind(instance.cached, op);
    }
    const failed = (err: unknown) => err instanceof StandInError ? err : new Error(`failed to create Docker client: ${(err as Error).message}`);
    let c: DockerClient;
    try {
        c = new DockerClient(tfTarget(instance));
    } catch (err) {
        throw failed(err);
    }
    if (instance.disableDockerDaemonCheck) {
        ctx.log("[DEBUG] Skipping Docker daemon check");
    } else {
        try {
            await c.ping(op);
        } catch (err) {
            throw failed(err instanceof StandInError ? err : new Error(`Error pinging Docker server, please make sure that ${instance.host} is reachable and has a  '_ping' endpoint. Error: ${(err as Error).message}`));
        }
        try {
            await c.serverVersion(op);
        } catch (err) {
            if (err instanceof StandInError) {
                throw err;
            }
            ctx.log(`[WARN] Error connecting to Docker daemon. Is your endpoint a valid docker host? This warning will be changed to an error in the next major version. Error: ${(err as Error).message}`);
        }
    }
    // LoadOrStore: a concurrent first operation may have stored its own; this one uses c.
    instance.cached ??= c;
    return bind(c, op);
}

/** The TF SDK's default for each CRUD context (d.Timeout without a timeout set). */
const TF_DEFAULT_TIMEOUT_SECONDS = 20 * 60;

/**
 * One CRUD call of the TF SDK: context.WithTimeout(customTimeouts, else 20 min), cancelled when
 * the call returns (what is still in flight then is cut, as `defer cancel()` cuts it).
 */
async function operation<T>(timeoutSeconds: number, fn: (op: GoContext) => Promise<T>): Promise<T> {
    const op = GoContext.withTimeout((timeoutSeconds > 0 ? timeoutSeconds : TF_DEFAULT_TIMEOUT_SECONDS) * 1000);
    try {
        return await fn(op);
    } finally {
        op.cancel();
    }
}

function isNotFound(err: unknown): boolean {
    return err instanceof EngineError && err.status === 404;
}

function ignorable(err: unknown, ...messages: string[]): boolean {
    const text = String((err as Error)?.message ?? err).toLowerCase();
    return messages.some((m) => text.includes(m.toLowerCase()));
}

/** A remove refresh: "removed", or `pending` while the engine still answers `busy`; other errors fail. */
async function removeUnlessBusy(remove: () => Promise<unknown>, busy: string, pending: string, logBusy: () => void): Promise<string> {
    try {
        await remove();
    } catch (err) {
        if (ignorable(err, busy)) {
            logBusy();
            return pending;
        }
        throw err;
    }
    return "removed";
}

interface StateConf {
    readonly delayMs: number;
    readonly minTimeoutMs: number;
    readonly timeoutMs: number;
    readonly pending: readonly string[];
    readonly target: readonly string[];
}

/**
 * retry.StateChangeConf.WaitForStateContext: after Delay, refresh; then wait 2^n x 100 ms bounded
 * to [MinTimeout, 10 s] between refreshes. At Timeout (counted from the start) the loop stops; a
 * refresh still in flight gets a 30 s grace period; then a TimeoutError naming the last state
 * seen. The operation's context ending first returns its error.
 */
function waitForState(op: GoContext, conf: StateConf, refresh: () => Promise<string>): Promise<void> {
    return new Promise((resolve, reject) => {
        let settled = false;
        let cancelled = false;
        let inFlight = false;
        let lastState = "";
        let interruptSleep: (() => void) | undefined;
        const timers: NodeJS.Timeout[] = [];
        const timeoutError = (lastError?: string) => {
            const extra = [...(lastState ? [`last state: '${lastState}'`] : []), `timeout: ${formatGoDuration(conf.timeoutMs * 1e6)}`];
            return new Error(`timeout while waiting for state to become '${conf.target.join(", ")}' (${extra.join(", ")})${lastError ? `: ${lastError}` : ""}`);
        };
        const settle = (err?: Error) => {
            if (!settled) {
                settled = true;
                timers.forEach(clearTimeout);
                op.signal.removeEventListener("abort", onContextDone);
                if (err) {
                    reject(err);
                } else {
                    resolve();
                }
            }
        };
        const stopLoop = () => {
            cancelled = true;
            interruptSleep?.();
        };
        function onContextDone() {
            // In the main select ctx.Err() is returned; during the grace period, the TimeoutError.
            const err = cancelled ? timeoutError() : new Error(op.err());
            stopLoop();
            settle(err);
        }
        const loopSleep = (ms: number) => new Promise<boolean>((res) => {
            if (cancelled) {
                res(false);
                return;
            }
            const t = setTimeout(() => {
                interruptSleep = undefined;
                res(true);
            }, ms);
            interruptSleep = () => {
                clearTimeout(t);
                interruptSleep = undefined;
                res(false);
            };
        });
        if (op.err()) {
            onContextDone();
            return;
        }
        op.signal.addEventListener("abort", onContextDone, { once: true });
        timers.push(setTimeout(() => {
            stopLoop();
            if (!inFlight) {
                settle(timeoutError());
            } else {
                timers.push(setTimeout(() => settle(timeoutError()), 30_000));
            }
        }, conf.timeoutMs));
        void (async () => {
            let wait = 0;
            if (!(await loopSleep(conf.delayMs))) {
                return;
            }
            for (;;) {
                if (!(await loopSleep(wait))) {
                    return;
                }
                wait = wait === 0 ? 100 : wait;
                inFlight = true;
                let state: string;
                try {
                    state = await refresh();
                } catch (err) {
                    inFlight = false;
                    settle(cancelled ? timeoutError((err as Error).message) : err as Error);
                    return;
                }
                inFlight = false;
                if (conf.target.includes(state)) {
                    settle();
                    return;
                }
                if (!conf.pending.includes(state)) {
                    settle(new StandInError(`state '${state}' outside pending and target is not modelled by the stand-in`));
                    return;
                }
                lastState = state;
                if (cancelled) {
                    settle(timeoutError());
                    return;
                }
                wait = Math.min(Math.max(wait * 2, conf.minTimeoutMs), 10_000);
            }
        })();
    });
}

const labelList = (labels: Record<string, string> | null | undefined) =>
    Object.entries(labels ?? {}).map(([label, value]) => ({ label, value }));
const labelMap = (labels: unknown) =>
    Object.fromEntries((Array.isArray(labels) ? labels : []).map((l: Props) => [l.label, l.value]));

/** Outputs come from the TF state: every schema attribute, no __defaults bookkeeping. */
function withAll(all: readonly string[], values: Props): Props {
    const out: Props = Object.fromEntries(all.map((k) => [k, null]));
    for (const [k, v] of Object.entries(values)) {
        if (k !== DEFAULTS_KEY) {
            out[k] = withoutDefaults(v);
        }
    }
    return out;
}

function withoutDefaults(value: unknown): unknown {
    if (Array.isArray(value)) {
        return value.map(withoutDefaults);
    }
    if (typeof value === "object" && value !== null) {
        return Object.fromEntries(Object.entries(value).filter(([k]) => k !== DEFAULTS_KEY).map(([k, v]) => [k, withoutDefaults(v)]));
    }
    return value;
}

/** The planned state of a preview: inputs, computed attributes unknown. */
function planned(all: readonly string[], inputs: Props, computed: readonly string[]): Props {
    const out = withAll(all, inputs);
    for (const k of computed) {
        if (out[k] === null) {
            out[k] = UNKNOWN;
        }
    }
    out.id = UNKNOWN;
    return out;
}

// ---------------------------------------------------------------------------------------------
// Network

const NETWORK_TYPE = "docker:index/network:Network";

/** resourceDockerNetworkRead after MakeClient: any inspect error (not only "not found") reads as gone. */
async function readNetwork(e: Engine, op: GoContext, id: string, base: Props): Promise<Props | undefined> {
    let found: Props | undefined;
    await waitForState(op, { delayMs: 2000, minTimeoutMs: 5000, timeoutMs: 30_000, pending: ["pending"], target: ["all_fields", "removed"] }, async () => {
        try {
            found = (await e.call("GET", `/networks/${id}`)).body;
        } catch (err) {
            if (err instanceof StandInError) {
                throw err;
            }
            found = undefined;
            return "removed";
        }
        if (found!.Scope === "overlay") {
            throw new StandInError("overlay networks are not modelled by the stand-in");
        }
        return "all_fields";
    });
    if (!found) {
        return undefined;
    }
    const n = found;
    return withAll(NETWORK_ALL, {
        ...base,
        id: n.Id,
        name: n.Name,
        labels: labelList(n.Labels),
        driver: n.Driver,
        internal: n.Internal,
        attachable: n.Attachable,
        ingress: n.Ingress,
        ipv6: n.EnableIPv6,
        ipamDriver: n.IPAM?.Driver,
        ipamOptions: n.IPAM?.Options ?? null,
        scope: n.Scope,
        options: n.Options ?? {},
        ipamConfigs: (n.IPAM?.Config ?? []).map((c: Props) => Object.fromEntries(Object.entries({
            subnet: c.Subnet, ipRange: c.IPRange, gateway: c.Gateway,
            auxAddress: c.AuxAddress && Object.keys(c.AuxAddress).length > 0 ? c.AuxAddress : undefined,
        }).filter(([, v]) => v))),
    });
}

const network: ResourceHandler = {
    async check(_ctx, req) {
        return { inputs: checkInputs(NETWORK_TYPE, NETWORK, req.olds, req.news) };
    },
    async diff(_ctx, req) {
        return diffAgainstState(NETWORK_TYPE, NETWORK, req.oldOutputs, applyIgnoreChanges(NETWORK_TYPE, req.news, req.oldInputs, req.ignoreChanges), false);
    },
    async create(ctx, req) {
        const inputs = req.inputs;
        if (req.preview) {
            return { id: "", outputs: planned(NETWORK_ALL, inputs, ["driver", "internal", "ipamConfigs", "options", "scope"]) };
        }
        return operation(req.timeout, async (op) => {
            const e = await client(ctx, op);
            const body: Props = { Name: inputs.name };
            if (inputs.labels?.length) {
                body.Labels = labelMap(inputs.labels);
            }
            if (inputs.driver) {
                body.Driver = inputs.driver;
            }
            body.IPAM = {
                Driver: inputs.ipamDriver,
                ...(inputs.ipamConfigs?.length ? {
                    Config: inputs.ipamConfigs.map((c: Props) => ({ Subnet: c.subnet ?? "", IPRange: c.ipRange ?? "", Gateway: c.gateway ?? "", AuxAddress: {} })),
                } : {}),
            };
            let id: string;
            try {
                // NetworkCreate negotiates first: CheckDuplicate is sent to APIs older than 1.44.
                await e.checkVersion();
                if (versionLessThan(e.version, "1.44")) {
                    body.CheckDuplicate = true;
                }
                id = (await e.call("POST", "/networks/create", { json: body })).body.Id;
            } catch (err) {
                throw err instanceof StandInError ? err : new Error(`Unable to create network: ${(err as Error).message}`);
            }
            ctx.log(`network ${inputs.name} created: ${id}`);
            const outputs = await readNetwork(await client(ctx, op), op, id, inputs);
            if (!outputs) {
                throw new Error(`network ${id} vanished right after its creation`);
            }
            return { id, outputs };
        });
    },
    async read(ctx, req) {
        return operation(0, async (op) => {
            const outputs = await readNetwork(await client(ctx, op), op, req.id, req.state);
            return outputs && { id: req.id, outputs, inputs: requireInputs(NETWORK_TYPE, req.inputs) };
        });
    },
    async update() {
        // Every modelled attribute is ForceNew; the TF resource has no Update at all.
        throw new StandInError(`${NETWORK_TYPE}: an in-place update is not possible (every attribute is ForceNew)`);
    },
    async delete(ctx, req) {
        await operation(req.timeout, async (op) => {
            const e = await client(ctx, op);
            await waitForState(op, { delayMs: 2000, minTimeoutMs: 5000, timeoutMs: 30_000, pending: ["pending"], target: ["removed"] }, async () => {
                try {
                    await e.call("GET", `/networks/${req.id}`);
                } catch (err) {
                    if (err instanceof StandInError) {
                        throw err;
                    }
                    // Any inspect error, a refused or silent engine too, counts as removed.
                    return "removed";
                }
                return removeUnlessBusy(() => e.call("DELETE", `/networks/${req.id}`), "has active endpoints", "pending",
                    () => ctx.log(`network ${req.id} still has active endpoints`));
            });
        });
    },
};

function requireInputs(type: string, inputs: Props): Props {
    if (!inputs || Object.keys(inputs).length === 0) {
        throw new StandInError(`${type}: read without stored inputs (import) is not modelled by the stand-in`);
    }
    return inputs;
}

// ---------------------------------------------------------------------------------------------
// Volume

const VOLUME_TYPE = "docker:index/volume:Volume";

async function readVolume(e: Engine, id: string, base: Props): Promise<Props | undefined> {
    let v: Props;
    try {
        v = (await e.call("GET", `/volumes/${id}`)).body;
    } catch (err) {
        if (isNotFound(err)) {
            return undefined;
        }
        throw err instanceof StandInError ? err : new Error(`Unable to inspect volume: ${(err as Error).message}`);
    }
    if (v.ClusterVolume) {
        throw new StandInError("cluster volumes are not modelled by the stand-in");
    }
    return withAll(VOLUME_ALL, {
        ...base,
        id: v.Name,
        name: v.Name,
        labels: labelList(v.Labels),
        driver: v.Driver,
        driverOpts: v.Options ?? null,
        mountpoint: v.Mountpoint,
    });
}

const volume: ResourceHandler = {
    async check(_ctx, req) {
        return { inputs: checkInputs(VOLUME_TYPE, VOLUME, req.olds, req.news) };
    },
    async diff(_ctx, req) {
        return diffAgainstState(VOLUME_TYPE, VOLUME, req.oldOutputs, applyIgnoreChanges(VOLUME_TYPE, req.news, req.oldInputs, req.ignoreChanges), false);
    },
    async create(ctx, req) {
        const inputs = req.inputs;
        if (req.preview) {
            return { id: "", outputs: planned(VOLUME_ALL, inputs, ["name", "driver", "mountpoint"]) };
        }
        const body: Props = {};
        if (inputs.name) {
            body.Name = inputs.name;
        }
        if (inputs.labels?.length) {
            body.Labels = labelMap(inputs.labels);
        }
        if (inputs.driver) {
            body.Driver = inputs.driver;
        }
        return operation(req.timeout, async (op) => {
            const e = await client(ctx, op);
            let name: string;
            try {
                name = (await e.call("POST", "/volumes/create", { json: body })).body.Name;
            } catch (err) {
                throw err instanceof StandInError ? err : new Error(`Unable to create volume: ${(err as Error).message}`);
            }
            ctx.log(`volume ${name} created`);
            const outputs = await readVolume(await client(ctx, op), name, inputs);
            if (!outputs) {
                throw new Error(`volume ${name} vanished right after its creation`);
            }
            return { id: name, outputs };
        });
    },
    async read(ctx, req) {
        return operation(0, async (op) => {
            const outputs = await readVolume(await client(ctx, op), req.id, req.state);
            return outputs && { id: req.id, outputs, inputs: requireInputs(VOLUME_TYPE, req.inputs) };
        });
    },
    async update(ctx, req) {
        // resourceDockerVolumeUpdate makes a client, then only touches cluster.availability (not modelled).
        if (!req.preview) {
            await operation(req.timeout, (op) => client(ctx, op));
        }
        return { outputs: withAll(VOLUME_ALL, { ...req.oldOutputs, ...req.news }) };
    },
    async delete(ctx, req) {
        await operation(req.timeout, async (op) => {
            // The refresh removes with context.Background(): its request outlives the operation.
            const background = bind((await client(ctx, op)).client, GoContext.background());
            await waitForState(op, { delayMs: 2000, minTimeoutMs: 5000, timeoutMs: 30_000, pending: ["in_use"], target: ["removed"] },
                () => removeUnlessBusy(() => background.call("DELETE", `/volumes/${req.id}`, { query: { force: "1" }, negotiateFirst: true }),
                    "volume is in use", "in_use", () => ctx.log(`volume ${req.id} is still in use`)));
        });
    },
};

// ---------------------------------------------------------------------------------------------
// RemoteImage

const IMAGE_TYPE = "docker:index/remoteImage:RemoteImage";

interface LocalImage {
    readonly Id: string;
    readonly RepoDigests?: string[] | null;
}

/** fetchLocalImages: the non-dangling image list (ImageList negotiates first). */
async function listImages(e: Engine): Promise<LocalImage[]> {
    try {
        return (await e.call("GET", "/images/json", { negotiateFirst: true })).body;
    } catch (err) {
        throw err instanceof StandInError ? err : new Error(`unable to list Docker images: ${(err as Error).message}`);
    }
}

/** searchLocalImages: inspect by name, then the same id among the listed images. */
async function searchLocalImages(e: Engine, list: LocalImage[], name: string): Promise<LocalImage | undefined> {
    let inspected: Props;
    try {
        inspected = (await e.call("GET", `/images/${name}/json`)).body;
    } catch (err) {
        if (isNotFound(err)) {
            return undefined;
        }
        throw err instanceof StandInError ? err : new Error(`unable to inspect image ${name}: ${(err as Error).message}`);
    }
    return list.find((i) => i.Id === inspected.Id);
}

/** A wrapper the provider puts around an error (fmt.Errorf / diag.Errorf); StandInErrors pass unchanged. */
function wrapped(prefix: string, err: unknown): Error {
    return err instanceof StandInError ? err : new Error(`${prefix}${(err as Error).message}`);
}

/** findImage: a local image of that name; where the provider would pull, the stand-in refuses. */
async function findImage(e: Engine, name: string, refusal: string): Promise<LocalImage> {
    if (!name) {
        throw new Error("empty image name is not allowed");
    }
    const list = await listImages(e);
    let found: LocalImage | undefined;
    try {
        found = await searchLocalImages(e, list, name);
    } catch (err) {
        throw wrapped(`findImage1: error looking up local image ${JSON.stringify(name)}: `, err);
    }
    if (!found) {
        throw new StandInError(`${refusal}: image ${name} is not present locally, and the docker stand-in does not pull images (the real provider would pull it here)`);
    }
    return found;
}

/** resourceDockerImageRead's lookup: undefined when the image is gone. */
async function readImage(e: Engine, name: string): Promise<LocalImage | undefined> {
    let list: LocalImage[];
    try {
        list = await listImages(e);
    } catch (err) {
        throw wrapped("Error reading docker image list: ", err);
    }
    try {
        return await searchLocalImages(e, list, name);
    } catch (err) {
        throw wrapped(`resourceDockerImageRead: error looking up local image ${JSON.stringify(name)}: `, err);
    }
}

function repoDigestOf(name: string, image: LocalImage): string {
    const digests = image.RepoDigests ?? [];
    if (digests.length === 0) {
        return "";
    }
    if (digests.length === 1) {
        return digests[0];
    }
    const colon = name.indexOf(":");
    const bare = colon === -1 ? name : name.slice(0, colon);
    return digests.find((d) => d.startsWith(bare)) ?? (() => {
        throw new StandInError(`image ${name}: several repo digests and none starting with its name is not modelled by the stand-in`);
    })();
}

function imageOutputs(name: string, image: LocalImage, base: Props): Props {
    return withAll(IMAGE_ALL, { ...base, id: image.Id + name, name, imageId: image.Id, repoDigest: repoDigestOf(name, image) });
}

/** resourceDockerImageCreate / Update: find the image, then Read (a fresh MakeClient, the cached one). */
async function findAndRead(ctx: ProviderContext, op: GoContext, name: string, base: Props): Promise<{ id: string; outputs: Props }> {
    try {
        await findImage(await client(ctx, op), name, "Unable to read Docker image into resource");
    } catch (err) {
        throw wrapped("Unable to read Docker image into resource: ", err);
    }
    const image = await readImage(await client(ctx, op), name);
    if (!image) {
        throw new StandInError(`image ${name} vanished between the provider's find and read: not modelled by the stand-in`);
    }
    return { id: image.Id + name, outputs: imageOutputs(name, image, base) };
}

const remoteImage: ResourceHandler = {
    async check(_ctx, req) {
        return { inputs: checkInputs(IMAGE_TYPE, IMAGE, req.olds, req.news) };
    },
    async diff(_ctx, req) {
        return diffAgainstState(IMAGE_TYPE, IMAGE, req.oldOutputs, applyIgnoreChanges(IMAGE_TYPE, req.news, req.oldInputs, req.ignoreChanges), false);
    },
    async create(ctx, req) {
        if (req.preview) {
            return { id: "", outputs: planned(IMAGE_ALL, req.inputs, ["imageId", "repoDigest"]) };
        }
        return operation(req.timeout, (op) => findAndRead(ctx, op, req.inputs.name, req.inputs));
    },
    async read(ctx, req) {
        const name = req.state.name;
        return operation(0, async (op) => {
            const image = await readImage(await client(ctx, op), name);
            return image && { id: image.Id + name, outputs: imageOutputs(name, image, req.state), inputs: requireInputs(IMAGE_TYPE, req.inputs) };
        });
    },
    async update(ctx, req) {
        const base = { ...req.oldOutputs, ...req.news };
        if (req.preview) {
            return { outputs: withAll(IMAGE_ALL, base) };
        }
        return operation(req.timeout, async (op) => ({ outputs: (await findAndRead(ctx, op, req.news.name, base)).outputs }));
    },
    async delete(ctx, req) {
        const state = req.outputs;
        await operation(req.timeout, async (op) => {
            // MakeClient comes before removeImage looks at keepLocally.
            const e = await client(ctx, op);
            if (state.keepLocally) {
                return;
            }
            try {
                const list = await listImages(e);
                if (!state.name) {
                    throw new Error("empty image name is not allowed");
                }
                let found: LocalImage | undefined;
                try {
                    found = await searchLocalImages(e, list, state.name);
                } catch (err) {
                    throw wrapped(`removeImage: error looking up local image ${JSON.stringify(state.name)}: `, err);
                }
                if (found) {
                    await e.call("DELETE", `/images/${state.name}`, { query: state.forceRemove ? { force: "1" } : {} });
                }
            } catch (err) {
                throw wrapped("Unable to remove Docker image: ", err);
            }
        });
    },
};

// ---------------------------------------------------------------------------------------------
// Container

const CONTAINER_TYPE = "docker:index/container:Container";
const CONTAINER_COMPUTED = ["bridge", "command", "containerLogs", "entrypoints", "envs", "exitCode", "healthcheck", "hostname",
    "init", "ipcMode", "labels", "logDriver", "networkDatas", "platform", "runtime", "securityOpts", "shmSize", "stopSignal", "stopTimeout"];

function containerCreateBody(inputs: Props): { config: Props; query: Record<string, string> } {
    const config: Props = {
        Image: inputs.image,
        Hostname: inputs.hostname ?? "",
        Domainname: "",
        Tty: false,
        OpenStdin: false,
        StopSignal: inputs.stopSignal ?? "",
    };
    if (inputs.stopTimeout !== undefined && inputs.stopTimeout !== null) {
        config.StopTimeout = inputs.stopTimeout;
    }
    if (inputs.envs?.length) {
        config.Env = inputs.envs;
    }
    if (inputs.command?.length) {
        if (inputs.command.some((c: string) => c === "")) {
            throw new Error("values for command may not be empty");
        }
        config.Cmd = inputs.command;
    }
    const exposed: Props = {};
    const bindings: Record<string, Props[]> = {};
    for (const p of inputs.ports ?? []) {
        const key = `${p.internal}/${p.protocol}`;
        exposed[key] = {};
        (bindings[key] ??= []).push({ HostIp: p.ip, HostPort: String(p.external) });
    }
    if (Object.keys(exposed).length > 0) {
        config.ExposedPorts = exposed;
    }
    const volumes: Props = {};
    const binds: string[] = [];
    for (const v of inputs.volumes ?? []) {
        if (!v.containerPath) {
            throw new Error("Unable to parse volumes: volume entry without container path or source container");
        }
        volumes[v.containerPath] = {};
        // No volumeName: the hostPath is the bind's source; with neither, only Volumes[containerPath].
        const source = v.volumeName || v.hostPath;
        if (source) {
            binds.push(`${source}:${v.containerPath}:${v.readOnly ? "ro" : "rw"}`);
        }
    }
    if (Object.keys(volumes).length > 0) {
        config.Volumes = volumes;
    }
    if (inputs.labels?.length) {
        config.Labels = labelMap(inputs.labels);
    }
    const hc = inputs.healthcheck;
    if (hc) {
        config.Healthcheck = {
            Test: hc.tests ?? [],
            Interval: parseGoDuration(hc.interval) ?? 0,
            Timeout: parseGoDuration(hc.timeout) ?? 0,
            StartPeriod: parseGoDuration(hc.startPeriod) ?? 0,
            StartInterval: parseGoDuration(hc.startInterval) ?? 0,
            Retries: hc.retries ?? 0,
        };
    }
    config.HostConfig = {
        Privileged: false,
        PublishAllPorts: false,
        RestartPolicy: { Name: inputs.restart, MaximumRetryCount: inputs.maxRetryCount ?? 0 },
        Runtime: "",
        Mounts: [],
        AutoRemove: false,
        ReadonlyRootfs: false,
        LogConfig: { Type: "" },
        NetworkMode: inputs.networkMode,
        Init: false,
        ...(Object.keys(bindings).length > 0 ? { PortBindings: bindings } : {}),
        ...(binds.length > 0 ? { Binds: binds } : {}),
    };
    return { config, query: { name: inputs.name } };
}

/**
 * network_mode always has a value (its default "bridge"), so Create asks the engine's Info before
 * ContainerCreate; an error is ignored (the OSType is then ""), and only warns for "bridge".
 */
async function askInfo(ctx: ProviderContext, e: Engine, networkMode: string): Promise<void> {
    let osType = "";
    try {
        osType = String((await e.call("GET", "/info")).body?.OSType ?? "");
    } catch (err) {
        if (err instanceof StandInError) {
            throw err;
        }
    }
    if (networkMode === "bridge" && !osType.includes("linux")) {
        ctx.log("[WARN] You are using a non-Linux host OS, but the network_mode is set to 'bridge'. This may not work as expected. Please set the network_mode explicitly to 'nat' or another appropriate value for your host OS.");
    }
}

/** resourceDockerContainerRead over the state `base` (planned or stored); undefined when gone. */
async function readContainer(ctx: ProviderContext, e: Engine, id: string, base: Props): Promise<Props | undefined> {
    let list: Props[];
    try {
        list = (await e.call("GET", "/containers/json", { query: { all: "1" } })).body;
    } catch (err) {
        throw wrapped("error fetching container information from Docker: ", err instanceof StandInError ? err : new Error(`${(err as Error).message}\n`));
    }
    if (!list.some((c) => c.Id === id)) {
        return undefined;
    }
    const c = (await e.call("GET", `/containers/${id}/json`)).body;
    const s: Props = withAll(CONTAINER_ALL, base);
    const ns = c.NetworkSettings;
    if (ns) {
        s.bridge = ns.Bridge ?? "";
        if (c.State?.Running || s.mustRun) {
            const keys = Object.keys(ns.Ports ?? {}).sort((a, b) => parseInt(a, 10) - parseInt(b, 10));
            s.ports = keys.flatMap((key) => (ns.Ports[key] ?? []).map((b: Props) => ({
                internal: parseInt(key, 10),
                external: parseInt(b.HostPort, 10) || 0,
                ip: b.HostIp,
                protocol: key.split("/")[1],
            })));
        }
        s.networkDatas = Object.entries(ns.Networks ?? {}).map(([networkName, n]: [string, any]) => ({
            networkName,
            ipAddress: n.IPAddress,
            ipPrefixLength: n.IPPrefixLen,
            gateway: n.Gateway,
            globalIpv6Address: n.GlobalIPv6Address,
            globalIpv6PrefixLength: n.GlobalIPv6PrefixLen,
            ipv6Gateway: n.IPv6Gateway,
            macAddress: n.MacAddress,
        }));
    }
    if (!c.State?.Running) {
        s.exitCode = c.State?.ExitCode ?? 0;
        if (s.mustRun) {
            ctx.log(`container ${id} is stopped but mustRun is true: mustRun=false in state`);
            s.mustRun = false;
        }
    }
    const hcfg = c.HostConfig ?? {};
    const cfg = c.Config ?? {};
    Object.assign(s, {
        id: c.Id,
        name: String(c.Name).replace(/^\/+/, ""),
        rm: hcfg.AutoRemove,
        readOnly: hcfg.ReadonlyRootfs,
        image: String(base.image ?? "").startsWith("sha256:") ? c.Image : cfg.Image,
        hostname: cfg.Hostname,
        domainname: cfg.Domainname,
        command: cfg.Cmd ?? null,
        entrypoints: cfg.Entrypoint ?? null,
        user: cfg.User,
        dns: hcfg.Dns ?? null,
        dnsOpts: hcfg.DnsOptions ?? null,
        securityOpts: hcfg.SecurityOpt ?? null,
        dnsSearches: hcfg.DnsSearch ?? null,
        publishAllPorts: hcfg.PublishAllPorts,
        restart: hcfg.RestartPolicy?.Name,
        maxRetryCount: hcfg.RestartPolicy?.MaximumRetryCount,
        init: hcfg.Init ?? false,
        workingDir: cfg.WorkingDir,
        runtime: hcfg.Runtime,
        platform: c.Platform,
        memory: Math.floor((hcfg.Memory ?? 0) / 1024 / 1024),
        memoryReservation: Math.floor((hcfg.MemoryReservation ?? 0) / 1024 / 1024),
        memorySwap: hcfg.MemorySwap > 0 ? Math.floor(hcfg.MemorySwap / 1024 / 1024) : hcfg.MemorySwap,
        shmSize: Math.floor((hcfg.ShmSize ?? 0) / 1024 / 1024),
        cpuShares: hcfg.CpuShares,
        cpuSet: hcfg.CpusetCpus,
        logDriver: hcfg.LogConfig?.Type,
        networkMode: hcfg.NetworkMode,
        pidMode: hcfg.PidMode,
        usernsMode: hcfg.UsernsMode,
        ipcMode: hcfg.IpcMode,
        privileged: hcfg.Privileged,
        tty: cfg.Tty,
        stdinOpen: cfg.OpenStdin,
        stopSignal: cfg.StopSignal ?? "",
        stopTimeout: cfg.StopTimeout ?? 0,
    });
    if (cfg.Healthcheck) {
        const h = cfg.Healthcheck;
        s.healthcheck = {
            tests: h.Test ?? null,
            interval: formatGoDuration(h.Interval ?? 0),
            timeout: formatGoDuration(h.Timeout ?? 0),
            startPeriod: formatGoDuration(h.StartPeriod ?? 0),
            startInterval: formatGoDuration(h.StartInterval ?? 0),
            retries: h.Retries ?? 0,
        };
    }
    return s;
}

/** The state the SDK keeps when Create fails after SetId: the planned values, nothing read. */
function plannedContainer(id: string, inputs: Props): Props {
    return { ...withAll(CONTAINER_ALL, inputs), id };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * wait: inspect every second (with the operation's context) until healthy, raced against a
 * context of waitTimeout seconds under the operation's: "container failed to be in healthy state".
 */
async function waitHealthy(e: Engine, op: GoContext, id: string, timeoutSeconds: number): Promise<void> {
    const waitCtx = GoContext.withTimeout(timeoutSeconds * 1000, op);
    const poll = (async () => {
        for (;;) {
            let c: Props;
            try {
                c = (await e.call("GET", `/containers/${id}/json`)).body;
            } catch (err) {
                throw wrapped("error inspecting container state: ", err);
            }
            if (!c.State?.Health) {
                throw new Error("you have supplied a 'wait' argument, but the container does not have a healthcheck defined. Please remove the 'wait' argument or add a 'healthcheck' attribute");
            }
            if (c.State.Health.Status === "healthy") {
                return;
            }
            await sleep(1000);
        }
    })();
    poll.catch(() => undefined); // the poller outlives a timeout until the operation's context ends
    const timedOut = new Promise<never>((_, reject) => {
        const fail = () => reject(new Error("container failed to be in healthy state"));
        if (waitCtx.err()) {
            fail();
        }
        waitCtx.signal.addEventListener("abort", fail, { once: true });
    });
    try {
        await Promise.race([poll, timedOut]);
    } finally {
        waitCtx.cancel();
    }
}

const container: ResourceHandler = {
    async check(_ctx, req) {
        const inputs = checkInputs(CONTAINER_TYPE, CONTAINER, req.olds, req.news);
        const failures = containerFailures(inputs);
        return failures.length > 0 ? { inputs, failures } : { inputs };
    },
    async diff(_ctx, req) {
        return diffAgainstState(CONTAINER_TYPE, CONTAINER, req.oldOutputs, applyIgnoreChanges(CONTAINER_TYPE, req.news, req.oldInputs, req.ignoreChanges), true);
    },
    async create(ctx, req) {
        const inputs = req.inputs;
        if (req.preview) {
            return { id: "", outputs: planned(CONTAINER_ALL, inputs, CONTAINER_COMPUTED) };
        }
        return operation(req.timeout, async (op) => {
            const e = await client(ctx, op);
            try {
                await findImage(e, inputs.image, `Unable to create container with image ${inputs.image}`);
            } catch (err) {
                throw wrapped(`Unable to create container with image ${inputs.image}: `, err);
            }
            const { config, query } = containerCreateBody(inputs);
            await askInfo(ctx, e, inputs.networkMode);
            let id: string;
            try {
                id = (await e.call("POST", "/containers/create", { json: config, query, negotiateFirst: true })).body.Id;
            } catch (err) {
                throw wrapped("Unable to create container: ", err);
            }
            ctx.log(`container ${inputs.name} created: ${id}`);
            try {
                if (inputs.networksAdvanced?.length) {
                    try {
                        await e.call("POST", "/networks/bridge/disconnect", { json: { Container: id, Force: false } });
                    } catch (err) {
                        if (!ignorable(err, "is not connected to the network bridge")) {
                            throw wrapped("Unable to disconnect the default network: ", err);
                        }
                    }
                    for (const n of inputs.networksAdvanced) {
                        const endpoint = {
                            Aliases: [], IPAMConfig: { IPv4Address: n.ipv4Address ?? "", IPv6Address: "", LinkLocalIPs: [] },
                            MacAddress: "", DriverOpts: {}, GwPriority: 0,
                        };
                        try {
                            await e.call("POST", `/networks/${n.name}/connect`, { json: { Container: id, EndpointConfig: endpoint } });
                        } catch (err) {
                            throw wrapped(`Unable to connect to network '${n.name}': `, err);
                        }
                    }
                }
                for (const u of inputs.uploads ?? []) {
                    if (typeof u.content !== "string" || u.content === "") {
                        throw new Error("error with upload content: one of 'content', 'content_base64', or 'source' must be set");
                    }
                    const mode = u.permissions ? parseInt(u.permissions, 8) : u.executable ? 0o744 : 0o644;
                    const tar = singleFileTar(u.file, Buffer.from(u.content, "utf8"), mode, new Date());
                    try {
                        await e.call("PUT", `/containers/${id}/archive`, { query: { path: "/" }, tar });
                    } catch (err) {
                        throw wrapped("Unable to upload volume content: ", err);
                    }
                }
                try {
                    await e.call("POST", `/containers/${id}/start`);
                } catch (err) {
                    throw wrapped("Unable to start container: ", err);
                }
                if (inputs.wait) {
                    await waitHealthy(e, op, id, inputs.waitTimeout);
                }
            } catch (err) {
                if (err instanceof StandInError) {
                    throw err;
                }
                const reason = `creating ${req.urn}: ${(err as Error).message}`;
                throw new InitError(reason, id, plannedContainer(id, inputs), [reason]);
            }
            const outputs = await readContainer(ctx, await client(ctx, op), id, inputs);
            if (!outputs) {
                throw new InitError(`container ${id} vanished after its creation`, id, plannedContainer(id, inputs), [`container ${id} vanished after its creation`]);
            }
            return { id, outputs };
        });
    },
    async read(ctx, req) {
        return operation(0, async (op) => {
            const outputs = await readContainer(ctx, await client(ctx, op), req.id, req.state);
            return outputs && { id: outputs.id, outputs, inputs: requireInputs(CONTAINER_TYPE, req.inputs) };
        });
    },
    async update(ctx, req) {
        const old = req.oldOutputs;
        // The planned state: configured values replace the stored ones; unset Optional+Computed ones stay.
        const next: Props = withAll(CONTAINER_ALL, old);
        for (const [key, attr] of Object.entries(CONTAINER)) {
            const v = req.news[key];
            if (v !== undefined && v !== null) {
                next[key] = v;
            } else if (!attr.computed) {
                next[key] = null;
            }
        }
        if (req.preview) {
            return { outputs: next };
        }
        return operation(req.timeout, async (op) => {
            const e = await client(ctx, op);
            if (!old.mustRun && next.mustRun) {
                ctx.log(`mustRun false -> true: starting container ${req.id}`);
                try {
                    await e.call("POST", `/containers/${req.id}/start`);
                } catch (err) {
                    throw wrapped("Unable to start container: ", err);
                }
            }
            const changed = (k: string) => JSON.stringify(normalize(old[k])) !== JSON.stringify(normalize(next[k]));
            if (["restart", "maxRetryCount"].some(changed)) {
                const body = {
                    RestartPolicy: { Name: next.restart, MaximumRetryCount: next.maxRetryCount ?? 0 },
                    CpuShares: 0, Memory: 0, MemoryReservation: (next.memoryReservation ?? 0) * 1024 * 1024, CpusetCpus: "",
                };
                try {
                    await e.call("POST", `/containers/${req.id}/update`, { json: body });
                } catch (err) {
                    throw wrapped("Unable to update a container: ", err);
                }
                ctx.log(`container ${req.id} updated: restart=${next.restart}`);
            }
            return { outputs: next };
        });
    },
    async delete(ctx, req) {
        const state = req.outputs;
        const id = req.id;
        await operation(req.timeout, async (op) => {
            const e = await client(ctx, op);
            if (state.attach) {
                throw new StandInError(`${CONTAINER_TYPE}: delete of an attached container is not modelled by the stand-in`);
            }
            const timeout = state.destroyGraceSeconds > 0 ? state.destroyGraceSeconds : 0;
            ctx.log(`stopping container ${id} with timeout ${timeout}`);
            try {
                await e.call("POST", `/containers/${id}/stop`, { query: { t: String(timeout) } });
            } catch (err) {
                if (!ignorable(err, "No such container")) {
                    throw wrapped(`Error stopping container ${id}: `, err);
                }
            }
            try {
                await e.call("DELETE", `/containers/${id}`, { query: { ...(state.removeVolumes !== false ? { v: "1" } : {}), force: "1" } });
            } catch (err) {
                if (!ignorable(err, "No such container", "is already in progress")) {
                    throw wrapped(`Error deleting container ${id}: `, err);
                }
            }
            try {
                await e.call("POST", `/containers/${id}/wait`, { query: { condition: "not-running" }, negotiateFirst: true });
            } catch (err) {
                if (!ignorable(err, "No such container", "is already in progress")) {
                    throw wrapped(`Error waiting for container removal '${id}': `, err);
                }
            }
        });
    },
};

// ---------------------------------------------------------------------------------------------
// Provider

const CONFIG_KEYS = new Set(["host", "context", "version", "disableDockerDaemonCheck", "sshOpts"]);
/** The modelled config keys that are not strings: the bridge's ConfigEncoding carries them as JSON text. */
const ENCODED_KEYS: Readonly<Record<string, "bool" | "list">> = { disableDockerDaemonCheck: "bool", sshOpts: "list" };

function refuseUnmodelledKeys(config: Props): void {
    for (const key of Object.keys(config)) {
        if (!CONFIG_KEYS.has(key)) {
            throw new StandInError(`docker provider configuration "${key}" is not modelled by the stand-in`);
        }
    }
}

/** ConfigEncoding.convertStringToPropertyValue: JSON text ("" is the zero value), or the value itself. */
export function decodeConfig(key: string, value: unknown): boolean | string[] {
    const kind = ENCODED_KEYS[key];
    let v: unknown = value;
    if (typeof value === "string") {
        if (value === "") {
            return kind === "bool" ? false : [];
        }
        try {
            v = JSON.parse(value);
        } catch {
            throw new StandInError(`docker provider configuration "${key}" = ${JSON.stringify(value)}: malformed JSON (the bridge's json.Unmarshal message) is not modelled by the stand-in`);
        }
    }
    const ok = kind === "bool" ? typeof v === "boolean" : Array.isArray(v) && v.every((x) => typeof x === "string" && !/[\x00-\x1f]/.test(x));
    if (!ok) {
        throw new StandInError(`docker provider configuration "${key}" = ${JSON.stringify(value)}: this value (the TF validation message) is not modelled by the stand-in`);
    }
    return v as boolean | string[];
}

/** Go's json.Marshal of a bool or a list of plain strings (<, > and & escaped as Go escapes them). */
function goJSON(v: boolean | string[]): string {
    return JSON.stringify(v).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/** ssh:// as both halves see it; other ssh spellings (ssh:x, SSH://) part their ways and are not modelled. */
function isSshHost(host: string): boolean {
    if (/^ssh:/i.test(host) && !host.startsWith("ssh://")) {
        throw new StandInError(`docker host ${JSON.stringify(host)}: only the ssh://[user@]host[:port][/path] spelling is modelled by the stand-in`);
    }
    return host.startsWith("ssh://");
}

/**
 * The transport of a tcp or ssh client takes proxies from the environment (ProxyFromEnvironment):
 * not modelled, so refused while one is set (unix sockets never use one).
 */
function refuseProxy(host: string, env: NodeJS.ProcessEnv): void {
    const proxy = env.HTTP_PROXY || env.http_proxy;
    if (proxy && !host.startsWith("unix://")) {
        throw new StandInError(`HTTP_PROXY is set and the docker host ${JSON.stringify(host)} is not a unix socket: proxied engine connections are not modelled by the stand-in`);
    }
}

/** Whether a ping with context.Background() succeeds (configureDockerClient's testConnection). */
async function testConnection(target: Target): Promise<boolean> {
    try {
        await new DockerClient(target).ping(GoContext.background());
        return true;
    } catch (err) {
        if (err instanceof StandInError) {
            throw err;
        }
        return false;
    }
}

/**
 * pulumi-docker's own Configure (setConfiguration, configureDockerClient): the value it sets as
 * DOCKER_HOST, undefined for an ssh:// host (nothing dialed). The variables are the engine's
 * Configure variables (strings; non-strings JSON-encoded).
 */
export async function nativeConfigure(variables: Readonly<Record<string, string>>, env: NodeJS.ProcessEnv, defaultHost = DEFAULT_HOST): Promise<string | undefined> {
    const explicit = "host" in variables || !!env.DOCKER_HOST;
    const host = "host" in variables ? variables.host : env.DOCKER_HOST || defaultHost;
    if (host === "") {
        throw new StandInError("docker:host set to the empty string is not modelled by the stand-in");
    }
    let sshOpts: string[] = [];
    if ("sshOpts" in variables) {
        sshOpts = decodeConfig("sshOpts", variables.sshOpts) as string[];
    }
    if (isSshHost(host)) {
        sshTarget(host, sshOpts, env); // the helper is built (its URL errors fail Configure) but never dialed
        return undefined;
    }
    if (await testConnection(directTarget(host))) {
        return host;
    }
    if (!explicit) {
        if (!env.HOME) {
            throw new Error("$HOME is not defined");
        }
        for (const userHost of [`unix://${env.HOME}/.docker/run/docker.sock`, `unix://${env.HOME}/.docker/desktop/docker.sock`]) {
            if (await testConnection(directTarget(userHost))) {
                return userHost;
            }
        }
    }
    throw new Error("failed to connect to any docker daemon");
}

/**
 * The hybrid provider's Configure over the plugin process's environment `env` (changed in
 * place, as os.Setenv changes it): pulumi-docker's part first, its error wrapped, then the
 * bridged provider's configure. Exported with defaultHost for the tests of the fallback.
 */
export async function configureInstance(config: Props, env: NodeJS.ProcessEnv, defaultHost = DEFAULT_HOST): Promise<ProviderContext> {
    refuseUnmodelledKeys(config);
    for (const name of ["DOCKER_CERT_PATH", "DOCKER_CA_MATERIAL", "DOCKER_CERT_MATERIAL", "DOCKER_KEY_MATERIAL", "DOCKER_SSH_OPTS"]) {
        if (env[name]) {
            throw new StandInError(`${name} is set: TLS and DOCKER_SSH_OPTS of the docker provider are not modelled by the stand-in`);
        }
    }
    for (const host of [config.host, env.DOCKER_HOST].filter((h): h is string => typeof h === "string")) {
        refuseProxy(host, env);
    }
    // The engine's variables: every key but version, non-strings JSON-encoded.
    const variables = Object.fromEntries(Object.entries(config).filter(([k]) => k !== "version")
        .map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)]));
    try {
        const dockerHost = await nativeConfigure(variables, env, defaultHost);
        if (dockerHost !== undefined) {
            env.DOCKER_HOST = dockerHost;
        }
    } catch (err) {
        throw err instanceof StandInError ? err : new Error(`docker native provider returned an unexpected error from Configure: ${(err as Error).message}`);
    }
    const instance: DockerInstance = {
        env,
        host: resolveHost(config, env),
        sshOpts: config.sshOpts === undefined ? [] : decodeConfig("sshOpts", config.sshOpts) as string[],
        disableDockerDaemonCheck: config.disableDockerDaemonCheck === undefined ? false : decodeConfig("disableDockerDaemonCheck", config.disableDockerDaemonCheck) as boolean,
    };
    refuseProxy(instance.host, env);
    try {
        isSshHost(instance.host);
        tfTarget(instance); // hosts the stand-in cannot reach are refused now; Go's own errors come at MakeClient
    } catch (err) {
        if (err instanceof StandInError) {
            throw err;
        }
    }
    return {
        config,
        instance,
        log: (message) => process.stderr.write(`[docker stand-in] ${message}\n`),
        engineLog: async () => undefined,
    };
}

export const dockerStandIn: StandInProvider = {
    name: "docker",
    version: "5.0.0",
    rules: RULES,
    secrets: { kind: "bridge", sensitive: {} },
    async checkConfig(_olds, news): Promise<CheckResult> {
        refuseUnmodelledKeys(news);
        const inputs: Props = {};
        for (const [key, value] of Object.entries(news)) {
            // ConfigEncoding: decoded, then folded back as JSON text (unknowns stay unknown).
            inputs[key] = key in ENCODED_KEYS && !hasUnknown(value) ? goJSON(decodeConfig(key, value)) : value;
        }
        return { inputs };
    },
    async diffConfig(oldInputs, _oldOutputs, news): Promise<DiffResult> {
        const keys = new Set([...Object.keys(oldInputs), ...Object.keys(news)]);
        const diffs = [...keys].filter((k) => JSON.stringify(oldInputs[k] ?? null) !== JSON.stringify(news[k] ?? null)).sort();
        return {
            changes: diffs.length > 0 ? "some" : "none",
            replaces: [],
            diffs,
            deleteBeforeReplace: false,
            detailedDiff: Object.fromEntries(diffs.map((k) => [k, oldInputs[k] === undefined ? "add" : news[k] === undefined ? "delete" : "update"])),
        };
    },
    configure: (config) => configureInstance(config, { ...process.env }),
    resources: {
        [NETWORK_TYPE]: network,
        [VOLUME_TYPE]: volume,
        [IMAGE_TYPE]: remoteImage,
        [CONTAINER_TYPE]: container,
    },
};
