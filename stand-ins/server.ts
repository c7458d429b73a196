// The gRPC side of a stand-in: a ResourceProvider server the real Pulumi engine attaches to
// (PULUMI_DEBUG_PROVIDERS=name:port) exactly as it would talk to a real plugin. It decodes the
// engine's wire values, hands the stand-in plain values, and encodes the answers, marking
// outputs secret by the real provider's own rule. It knows nothing of Docker or PostgreSQL:
// those behaviours live in docker.ts, command.ts and postgresql.ts, each with its RULES table.

import * as grpc from "@grpc/grpc-js";
import * as fs from "node:fs";
import * as emptyproto from "google-protobuf/google/protobuf/empty_pb";
import * as structproto from "google-protobuf/google/protobuf/struct_pb";
import * as anyproto from "google-protobuf/google/protobuf/any_pb";
import * as enginerpc from "@pulumi/pulumi/proto/engine_grpc_pb";
import * as engineproto from "@pulumi/pulumi/proto/engine_pb";
import * as plugproto from "@pulumi/pulumi/proto/plugin_pb";
import * as provrpc from "@pulumi/pulumi/proto/provider_grpc_pb";
import * as provproto from "@pulumi/pulumi/proto/provider_pb";
import * as statusproto from "@pulumi/pulumi/proto/status_pb";
import {
    CheckResult, DiffKind, DiffResult, InitError, isSecret, Props, ProviderContext, ResourceHandler, reveal, secret, StandInProvider,
} from "./provider";

/** Paths (property names and list indexes) at which a value holds a secret marker. */
export function secretPaths(value: unknown, at: (string | number)[] = []): (string | number)[][] {
    if (isSecret(value)) {
        return [at];
    }
    if (Array.isArray(value)) {
        return value.flatMap((v, i) => secretPaths(v, [...at, i]));
    }
    if (typeof value === "object" && value !== null) {
        return Object.entries(value).flatMap(([k, v]) => secretPaths(v, [...at, k]));
    }
    return [];
}

/** The value with a secret marker at each of the paths that exist in it. */
export function markSecret(value: Props, paths: (string | number)[][]): Props {
    let out: any = value;
    for (const path of paths) {
        out = wrapAt(out, path);
    }
    return out;
}

function wrapAt(value: any, path: (string | number)[]): any {
    if (value === undefined || value === null || isSecret(value)) {
        return value;
    }
    if (path.length === 0) {
        return secret(value);
    }
    const [head, ...rest] = path;
    if (Array.isArray(value) && typeof head === "number" && head < value.length) {
        return value.map((v, i) => (i === head ? wrapAt(v, rest) : v));
    }
    if (typeof value === "object" && !Array.isArray(value) && typeof head === "string" && head in value) {
        return { ...value, [head]: wrapAt(value[head], rest) };
    }
    return value;
}

/** Marks outputs secret the way the real provider does (see SecretRule in provider.ts). */
export function secretOutputs(provider: StandInProvider, type: string, inputs: Props, outputs: Props): Props {
    const fromInputs = secretPaths(inputs);
    const sensitive = provider.secrets.kind === "bridge" ? (provider.secrets.sensitive[type] ?? []).map((name) => [name]) : [];
    return markSecret(outputs, [...fromInputs, ...sensitive]);
}

const KINDS: Record<DiffKind, provproto.PropertyDiff.Kind> = {
    "add": provproto.PropertyDiff.Kind.ADD,
    "add-replace": provproto.PropertyDiff.Kind.ADD_REPLACE,
    "delete": provproto.PropertyDiff.Kind.DELETE,
    "delete-replace": provproto.PropertyDiff.Kind.DELETE_REPLACE,
    "update": provproto.PropertyDiff.Kind.UPDATE,
    "update-replace": provproto.PropertyDiff.Kind.UPDATE_REPLACE,
};

function toStruct(value: Props): structproto.Struct {
    // JSON drops undefined, which Struct cannot carry.
    return structproto.Struct.fromJavaScript(JSON.parse(JSON.stringify(value ?? {})));
}

function fromStruct(value: structproto.Struct | undefined): Props {
    return (value?.toJavaScript() ?? {}) as Props;
}

function diffResponse(result: DiffResult): provproto.DiffResponse {
    const resp = new provproto.DiffResponse();
    resp.setChanges(result.changes === "none" ? provproto.DiffResponse.DiffChanges.DIFF_NONE
        : result.changes === "some" ? provproto.DiffResponse.DiffChanges.DIFF_SOME
            : provproto.DiffResponse.DiffChanges.DIFF_UNKNOWN);
    resp.setReplacesList([...result.replaces]);
    resp.setDiffsList([...result.diffs]);
    resp.setDeletebeforereplace(result.deleteBeforeReplace ?? false);
    if (result.detailedDiff) {
        resp.setHasdetaileddiff(true);
        const map = resp.getDetaileddiffMap();
        for (const [path, kind] of Object.entries(result.detailedDiff)) {
            const d = new provproto.PropertyDiff();
            d.setKind(KINDS[kind]);
            d.setInputdiff(true);
            map.set(path, d);
        }
    }
    return resp;
}

/** Check's answer: the inputs to keep, secret where the engine's were, and any failures. */
function checkResponse(result: CheckResult, news: Props): provproto.CheckResponse {
    const resp = new provproto.CheckResponse();
    resp.setInputs(toStruct(markSecret(result.inputs, secretPaths(news))));
    for (const f of result.failures ?? []) {
        const failure = new provproto.CheckFailure();
        failure.setProperty(f.property);
        failure.setReason(f.reason);
        resp.addFailures(failure);
    }
    return resp;
}

function grpcError(err: unknown): grpc.ServiceError {
    const e = err as Error;
    const metadata = new grpc.Metadata();
    if (err instanceof InitError) {
        // A resource that exists but failed to initialise, as the real providers report it.
        const detail = new provproto.ErrorResourceInitFailed();
        detail.setId(err.id);
        detail.setProperties(toStruct(err.outputs));
        detail.setReasonsList(err.reasons);
        const any = new anyproto.Any();
        any.pack(detail.serializeBinary(), "pulumirpc.ErrorResourceInitFailed");
        const status = new statusproto.Status();
        status.setCode(grpc.status.UNKNOWN);
        status.setMessage(e.message);
        status.addDetails(any);
        metadata.add("grpc-status-details-bin", Buffer.from(status.serializeBinary()));
    }
    return Object.assign(new Error(e?.message ?? String(err)), {
        code: grpc.status.UNKNOWN, details: e?.message ?? String(err), metadata,
    }) as grpc.ServiceError;
}

const unimplemented = (what: string): grpc.ServiceError => Object.assign(new Error(`${what} is not implemented by this stand-in`),
    { code: grpc.status.UNIMPLEMENTED, details: `${what} is not implemented by this stand-in`, metadata: new grpc.Metadata() });

export interface RunningStandIn {
    readonly name: string;
    readonly port: number;
    stop(): Promise<void>;
}

export interface ServeOptions {
    /** Where log lines go. */
    readonly logFile: string;
    /** The engine's plugin directory for this run (ProviderContext.pwd); required, never guessed. */
    readonly pwd: string;
    /** 0 (the default): an ephemeral port. */
    readonly port?: number;
}

/** Serves one stand-in on 127.0.0.1 for the engine of one project directory. */
export async function serveStandIn(provider: StandInProvider, { logFile, pwd, port = 0 }: ServeOptions): Promise<RunningStandIn> {
    const log = (line: string) => fs.appendFileSync(logFile, `${new Date().toISOString()} ${provider.name}: ${line}\n`);
    // One engine-side provider instance per connection: the engine dials each provider resource
    // (the default one, or each explicit one) separately, so its configuration is kept per peer.
    const contexts = new Map<string, ProviderContext>();
    let engine: enginerpc.EngineClient | undefined;

    const engineLog = async (urn: string, severity: "debug" | "info" | "warning" | "error", message: string) => {
        if (!engine) {
            log(`(no engine attached) ${severity} ${urn}: ${message}`);
            return;
        }
        const req = new engineproto.LogRequest();
        req.setSeverity({ debug: 0, info: 1, warning: 2, error: 3 }[severity] as engineproto.LogSeverity);
        req.setMessage(message);
        req.setUrn(urn);
        await new Promise<void>((resolve) => engine!.log(req, () => resolve()));
    };
    const contextFor = (call: grpc.ServerUnaryCall<any, any>): ProviderContext => {
        const ctx = contexts.get(call.getPeer());
        if (!ctx) {
            throw new Error(`${provider.name} stand-in: a resource call arrived before Configure on this connection`);
        }
        return ctx;
    };
    const handlerFor = (type: string): ResourceHandler => {
        const handler = provider.resources[type];
        if (!handler) {
            throw new Error(`${provider.name} stand-in: resource type ${type} is not modelled (known: ${Object.keys(provider.resources).join(", ")})`);
        }
        return handler;
    };
    function unary<Req, Res>(method: string, fn: (call: grpc.ServerUnaryCall<Req, Res>) => Promise<Res>) {
        return (call: grpc.ServerUnaryCall<Req, Res>, callback: grpc.sendUnaryData<Res>) => {
            fn(call).then((res) => callback(null, res), (err) => {
                log(`${method} failed: ${(err as Error)?.message ?? err}`);
                callback(grpcError(err), null);
            });
        };
    }

    const impl: Partial<provrpc.IResourceProviderServer> = {
        getPluginInfo: unary("GetPluginInfo", async () => {
            const info = new plugproto.PluginInfo();
            info.setVersion(provider.version);
            return info;
        }),
        attach: unary("Attach", async (call: grpc.ServerUnaryCall<plugproto.PluginAttach, emptyproto.Empty>) => {
            engine = new enginerpc.EngineClient(call.request.getAddress(), grpc.credentials.createInsecure());
            log(`attached by the engine at ${call.request.getAddress()}`);
            return new emptyproto.Empty();
        }),
        cancel: unary("Cancel", async () => new emptyproto.Empty()),
        checkConfig: unary("CheckConfig", async (call: grpc.ServerUnaryCall<provproto.CheckRequest, provproto.CheckResponse>) => {
            const news = fromStruct(call.request.getNews());
            const result = await provider.checkConfig(reveal(fromStruct(call.request.getOlds())), reveal(news));
            return checkResponse(result, news);
        }),
        diffConfig: unary("DiffConfig", async (call: grpc.ServerUnaryCall<provproto.DiffRequest, provproto.DiffResponse>) => {
            const r = call.request;
            return diffResponse(await provider.diffConfig(reveal(fromStruct(r.getOldInputs())),
                reveal(fromStruct(r.getOlds())), reveal(fromStruct(r.getNews()))));
        }),
        configure: unary("Configure", async (call: grpc.ServerUnaryCall<provproto.ConfigureRequest, provproto.ConfigureResponse>) => {
            const r = call.request;
            let config: Props;
            if (r.getArgs()) {
                config = reveal(fromStruct(r.getArgs()));
            } else {
                // Older engines send "pkg:config:key" -> JSON-or-text strings.
                config = {};
                r.getVariablesMap().forEach((value: string, key: string) => {
                    config[key.split(":").pop()!] = value;
                });
            }
            const configured = await provider.configure(config);
            const peer = call.getPeer();
            contexts.set(peer, { ...configured, log: (m) => log(`[${peer}] ${m}`), engineLog, pwd });
            log(`configured for ${peer} (keys: ${Object.keys(config).sort().join(", ") || "none"})`);
            await engineLog("", "warning", `stand-in plugin in use: ${provider.name} ${provider.version} is served by ` +
                `pg-replication's own stand-in (stand-ins/${provider.name}.ts), not by the real provider`);
            const resp = new provproto.ConfigureResponse();
            resp.setAcceptsecrets(true);
            resp.setSupportspreview(true);
            resp.setAcceptresources(true);
            return resp;
        }),
        check: unary("Check", async (call: grpc.ServerUnaryCall<provproto.CheckRequest, provproto.CheckResponse>) => {
            const r = call.request;
            const news = fromStruct(r.getNews());
            const result = await handlerFor(r.getType()).check(contextFor(call), {
                urn: r.getUrn(), type: r.getType(), olds: reveal(fromStruct(r.getOlds())), news: reveal(news),
            });
            return checkResponse(result, news);
        }),
        diff: unary("Diff", async (call: grpc.ServerUnaryCall<provproto.DiffRequest, provproto.DiffResponse>) => {
            const r = call.request;
            const result = await handlerFor(r.getType()).diff(contextFor(call), {
                urn: r.getUrn(), type: r.getType(), id: r.getId(),
                oldInputs: reveal(fromStruct(r.getOldInputs())), oldOutputs: reveal(fromStruct(r.getOlds())),
                news: reveal(fromStruct(r.getNews())), ignoreChanges: r.getIgnorechangesList(),
            });
            log(`Diff ${r.getUrn()}: ${result.changes} diffs=[${result.diffs.join(",")}] replaces=[${result.replaces.join(",")}]`);
            return diffResponse(result);
        }),
        create: unary("Create", async (call: grpc.ServerUnaryCall<provproto.CreateRequest, provproto.CreateResponse>) => {
            const r = call.request;
            const inputs = fromStruct(r.getProperties());
            const started = Date.now();
            try {
                const result = await handlerFor(r.getType()).create(contextFor(call), {
                    urn: r.getUrn(), type: r.getType(), inputs: reveal(inputs), preview: r.getPreview(), timeout: r.getTimeout(),
                });
                log(`Create${r.getPreview() ? " (preview)" : ""} ${r.getUrn()} -> ${result.id} (took ${Date.now() - started} ms)`);
                const resp = new provproto.CreateResponse();
                resp.setId(result.id);
                resp.setProperties(toStruct(secretOutputs(provider, r.getType(), inputs, result.outputs)));
                return resp;
            } catch (err) {
                if (err instanceof InitError) {
                    throw new InitError(err.message, err.id, secretOutputs(provider, r.getType(), inputs, err.outputs), err.reasons);
                }
                throw err;
            }
        }),
        read: unary("Read", async (call: grpc.ServerUnaryCall<provproto.ReadRequest, provproto.ReadResponse>) => {
            const r = call.request;
            const inputs = fromStruct(r.getInputs());
            const state = fromStruct(r.getProperties());
            const result = await handlerFor(r.getType()).read(contextFor(call), {
                urn: r.getUrn(), type: r.getType(), id: r.getId(), state: reveal(state), inputs: reveal(inputs),
            });
            const resp = new provproto.ReadResponse();
            if (result) {
                resp.setId(result.id);
                // What was secret in state stays secret on the way back.
                resp.setProperties(toStruct(markSecret(secretOutputs(provider, r.getType(), inputs, result.outputs), secretPaths(state))));
                resp.setInputs(toStruct(markSecret(result.inputs, secretPaths(inputs))));
            }
            log(`Read ${r.getUrn()} -> ${result ? "found" : "gone"}`);
            return resp;
        }),
        update: unary("Update", async (call: grpc.ServerUnaryCall<provproto.UpdateRequest, provproto.UpdateResponse>) => {
            const r = call.request;
            const news = fromStruct(r.getNews());
            const started = Date.now();
            const result = await handlerFor(r.getType()).update(contextFor(call), {
                urn: r.getUrn(), type: r.getType(), id: r.getId(),
                oldInputs: reveal(fromStruct(r.getOldInputs())), oldOutputs: reveal(fromStruct(r.getOlds())),
                news: reveal(news), preview: r.getPreview(), timeout: r.getTimeout(), ignoreChanges: r.getIgnorechangesList(),
            });
            log(`Update${r.getPreview() ? " (preview)" : ""} ${r.getUrn()} (took ${Date.now() - started} ms)`);
            const resp = new provproto.UpdateResponse();
            resp.setProperties(toStruct(secretOutputs(provider, r.getType(), news, result.outputs)));
            return resp;
        }),
        delete: unary("Delete", async (call: grpc.ServerUnaryCall<provproto.DeleteRequest, emptyproto.Empty>) => {
            const r = call.request;
            const started = Date.now();
            await handlerFor(r.getType()).delete(contextFor(call), {
                urn: r.getUrn(), type: r.getType(), id: r.getId(),
                outputs: reveal(fromStruct(r.getProperties())), oldInputs: reveal(fromStruct(r.getOldInputs())), timeout: r.getTimeout(),
            });
            log(`Delete ${r.getUrn()} (${r.getId()}) (took ${Date.now() - started} ms)`);
            return new emptyproto.Empty();
        }),
        getMapping: unary("GetMapping", async () => new provproto.GetMappingResponse()),
        getMappings: unary("GetMappings", async () => new provproto.GetMappingsResponse()),
    };
    // Everything else (Invoke, Call, Construct, GetSchema, Handshake, Parameterize, ...) is not
    // used by this program: answered as unimplemented, which the engine either falls back from
    // or reports, never silently accepted.
    const full: Record<string, unknown> = {};
    for (const method of Object.keys(provrpc.ResourceProviderService)) {
        const streaming = (provrpc.ResourceProviderService as Record<string, { responseStream: boolean }>)[method].responseStream;
        full[method] = (impl as Record<string, unknown>)[method] ?? ((call: grpc.ServerWritableStream<unknown, unknown>,
            callback?: grpc.sendUnaryData<unknown>) => {
            log(`${method} called: not implemented by this stand-in`);
            if (streaming) {
                call.emit("error", unimplemented(method));
            } else {
                callback!(unimplemented(method), null);
            }
        });
    }

    const server = new grpc.Server({ "grpc.max_receive_message_length": 400 * 1024 * 1024 });
    server.addService(provrpc.ResourceProviderService, full as unknown as grpc.UntypedServiceImplementation);
    const bound = await new Promise<number>((resolve, reject) =>
        server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
    log(`serving ${provider.name} ${provider.version} on 127.0.0.1:${bound}`);
    return {
        name: provider.name,
        port: bound,
        stop: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
    };
}
