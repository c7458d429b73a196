// The contract between the gRPC server (server.ts) and each stand-in provider (docker.ts,
// command.ts, postgresql.ts). A stand-in replaces a real provider plugin that cannot be had on
// a machine; its worth is its faithfulness, so every behaviour it has is a row of its RULES
// table naming the real provider's source it comes from, and each row has a test.
//
// Values are the engine's wire form decoded to JavaScript (Struct.toJavaScript): secrets are
// {[SIG_KEY]: SECRET_SIG, value}, unknown values (preview) are the string UNKNOWN. Handlers get
// them with secrets revealed (reveal) and give back plain values; server.ts marks outputs secret
// again by the provider's own rule (SecretRule).

/** Pulumi's wire markers (sdk/nodejs/runtime/rpc.ts). */
export const SIG_KEY = "4dabf18193072939515e22adb298388d";
export const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";
export const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

export type Props = Record<string, any>;

export function isSecret(value: unknown): value is { value: unknown } {
    return typeof value === "object" && value !== null && (value as any)[SIG_KEY] === SECRET_SIG;
}

/** The value with every secret marker removed, recursively. */
export function reveal<T = any>(value: any): T {
    if (isSecret(value)) {
        return reveal(value.value);
    }
    if (Array.isArray(value)) {
        return value.map(reveal) as any;
    }
    if (typeof value === "object" && value !== null) {
        return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, reveal(v)])) as any;
    }
    return value;
}

export function secret(value: unknown): Props {
    return { [SIG_KEY]: SECRET_SIG, value };
}

/** True when the value, or anything inside it, is unknown (only during preview). */
export function hasUnknown(value: unknown): boolean {
    if (value === UNKNOWN) {
        return true;
    }
    if (Array.isArray(value)) {
        return value.some(hasUnknown);
    }
    if (typeof value === "object" && value !== null) {
        return Object.values(isSecret(value) ? { v: value.value } : value).some(hasUnknown);
    }
    return false;
}

/** One behaviour of a real provider, and where in its source it comes from. */
export interface Rule {
    /** Short id, used by the tests that prove the rule (e.g. "container.update.applies"). */
    readonly id: string;
    /** What the real provider does, in one or two sentences. */
    readonly behaviour: string;
    /** repository@commit path:lines (or the facts file section) the behaviour is read from. */
    readonly source: string;
}

/** What a real provider does when asked for something the stand-in does not know. */
export class StandInError extends Error {}

/**
 * A create that made the object but could not finish (e.g. a container that never became
 * healthy): the engine records it with the id and initialization errors, as the real providers
 * report it (ErrorResourceInitFailed).
 */
export class InitError extends Error {
    constructor(message: string, readonly id: string, readonly outputs: Props, readonly reasons: string[]) {
        super(message);
    }
}

export type DiffKind = "add" | "add-replace" | "delete" | "delete-replace" | "update" | "update-replace";

export interface DiffResult {
    /** "unknown" only when the stand-in cannot tell (the engine then treats it as a change). */
    readonly changes: "none" | "some" | "unknown";
    /** Top-level property names that force replacement. */
    readonly replaces: readonly string[];
    /** Top-level property names that changed (replacing or not). */
    readonly diffs: readonly string[];
    readonly deleteBeforeReplace?: boolean;
    /** Property path -> kind, as the real provider reports it (optional). */
    readonly detailedDiff?: Readonly<Record<string, DiffKind>>;
}

/** Per provider instance: what Configure gave it. Passed to every resource call. */
export interface ProviderContext {
    /** The provider's configuration (revealed), keyed as the SDK sends it (e.g. "host"). */
    readonly config: Props;
    /** What a provider's Configure keeps for this instance (e.g. its clients), opaque to the server. */
    readonly instance?: unknown;
    /** Where the stand-in reports what it did; goes to the server's log file, never to state. */
    log(message: string): void;
    /**
     * A message to the engine's log for one resource, as a real provider sends it through the
     * engine's Log service (shown by `pulumi up`, kept in the engine's event log).
     */
    engineLog(urn: string, severity: "debug" | "info" | "warning" | "error", message: string): Promise<void>;
    /**
     * The directory the engine would have started this plugin in: the project directory (or the
     * directory of its `main`), which is an Automation API workspace's workDir. Set by the server
     * from what its launcher says; a stand-in that needs it and finds none refuses.
     */
    readonly pwd?: string;
}

export interface CheckRequest {
    readonly urn: string;
    readonly type: string;
    /** Old inputs (empty on create). */
    readonly olds: Props;
    readonly news: Props;
}
export interface CheckResult {
    readonly inputs: Props;
    readonly failures?: readonly { property: string; reason: string }[];
}
export interface DiffRequest {
    readonly urn: string;
    readonly type: string;
    readonly id: string;
    readonly oldInputs: Props;
    readonly oldOutputs: Props;
    readonly news: Props;
    readonly ignoreChanges: readonly string[];
}
export interface CreateRequest {
    readonly urn: string;
    readonly type: string;
    readonly inputs: Props;
    readonly preview: boolean;
    /** Seconds from customTimeouts, 0 when unset. */
    readonly timeout: number;
}
export interface ReadRequest {
    readonly urn: string;
    readonly type: string;
    readonly id: string;
    /** The outputs stored in state. */
    readonly state: Props;
    /** The inputs stored in state (may be empty on import). */
    readonly inputs: Props;
}
/** What Diff gets, and whether this is a preview, with its customTimeouts bound (seconds, 0 unset). */
export interface UpdateRequest extends DiffRequest {
    readonly preview: boolean;
    readonly timeout: number;
}
export interface DeleteRequest {
    readonly urn: string;
    readonly type: string;
    readonly id: string;
    /** The outputs stored in state. */
    readonly outputs: Props;
    /** The inputs stored in state. */
    readonly oldInputs: Props;
    readonly timeout: number;
}

export interface ResourceHandler {
    check(ctx: ProviderContext, req: CheckRequest): Promise<CheckResult>;
    diff(ctx: ProviderContext, req: DiffRequest): Promise<DiffResult>;
    create(ctx: ProviderContext, req: CreateRequest): Promise<{ id: string; outputs: Props }>;
    /** undefined: the object is gone (the engine drops it from state on refresh). */
    read(ctx: ProviderContext, req: ReadRequest): Promise<{ id: string; outputs: Props; inputs: Props } | undefined>;
    update(ctx: ProviderContext, req: UpdateRequest): Promise<{ outputs: Props }>;
    delete(ctx: ProviderContext, req: DeleteRequest): Promise<void>;
}

/**
 * How a provider marks outputs secret:
 * - "bridge" (pulumi-terraform-bridge): an output is secret where the input at the same path was
 *   secret, plus the properties the schema marks sensitive (`sensitive`, per resource type);
 * - "infer" (pulumi-go-provider infer v1.3.0, used by pulumi-command): an output is secret only
 *   where the input of the same name or path was secret (infer/resource.go:592-630, 754-807) — so
 *   a secret stdin does not make stdout secret.
 */
export type SecretRule =
    | { readonly kind: "bridge"; readonly sensitive: Readonly<Record<string, readonly string[]>> }
    | { readonly kind: "infer" };

export interface StandInProvider {
    /** Package name as the engine knows it: "docker", "command", "postgresql". */
    readonly name: string;
    /** The version the npm SDK asks for (package.json pins it). */
    readonly version: string;
    /** Every behaviour, with its source: the table the README and the tests refer to. */
    readonly rules: readonly Rule[];
    readonly secrets: SecretRule;
    /** Validates provider configuration (CheckConfig); returns the inputs to keep. */
    checkConfig(olds: Props, news: Props): Promise<CheckResult>;
    /** Whether a change of provider configuration replaces the provider (DiffConfig). */
    diffConfig(oldInputs: Props, oldOutputs: Props, news: Props): Promise<DiffResult>;
    /** Configure: gives the context for one provider instance. */
    configure(config: Props): Promise<ProviderContext>;
    /** Resource token (e.g. "docker:index/container:Container") -> handler. */
    readonly resources: Readonly<Record<string, ResourceHandler>>;
}
