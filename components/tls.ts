// TLS material for a stack: its own certificate authority and one server certificate per node,
// made with the openssl of the stack's PostgreSQL image in a throwaway container (no plugin
// beyond command, no openssl needed where Pulumi runs, the same openssl on every machine).
// Keys exist only in the container's tmpfs, on the command's stdout (a secret output, logged
// nowhere) and in state, encrypted.

import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import * as fs from "node:fs";
import * as path from "node:path";
import * as ipaddr from "ipaddr.js";
import { keepPrevious } from "./secrets";

export interface TlsNode {
    /** The node's name: the certificate's CN and a DNS subjectAltName; also names its resource. */
    readonly name: string;
    /**
     * Every address clients and other nodes reach the node at (IPv4, IPv6 or a DNS name), as they
     * write it in `host=`: with sslmode=verify-full the name they connect to must be in the certificate.
     */
    readonly addresses: readonly string[];
}

export interface CertificateAuthorityArgs {
    /** The nodes to certify; names unique. */
    readonly nodes: readonly TlsNode[];
    /** How long the CA and each certificate are valid, in days (1-36500); default 3650. */
    readonly validityDays?: number;
    /** The image whose openssl makes the keys: the stack's PostgreSQL image (its id orders it after the image). */
    readonly image: pulumi.Input<string>;
    /** The Docker engine the throwaway containers run on, as DOCKER_HOST takes it. */
    readonly dockerHost: pulumi.Input<string>;
    /** Labels on the throwaway containers, so a run that was killed leaves findable objects. */
    readonly labels?: Readonly<Record<string, string>>;
}

export interface NodeCertificate {
    /** The node's certificate, PEM, signed by the CA. */
    readonly cert: pulumi.Output<string>;
    /** Its private key, PEM (PKCS#8, P-256). */
    readonly key: pulumi.Output<string>;
}

export const DEFAULT_VALIDITY_DAYS = 3650;

const SCRIPTS = path.join(__dirname, "scripts");
const read = (file: string) => fs.readFileSync(path.join(SCRIPTS, file), "utf8");

/**
 * The create text of both commands. The in-container script travels in TLS_SCRIPT (plain: it
 * holds no secret), so no quoting of it is needed; `-e NAME` hands on the variables the command
 * provider set in the docker CLI's environment.
 */
export function runOpenssl(labels: Readonly<Record<string, string>>): string {
    const labelArgs = Object.entries(labels).map(([k, v]) => `--label ${k}=${v} `).join("");
    return "exec docker run --rm -i --network none --tmpfs /tls:mode=0700 " + labelArgs +
        "-e CN -e DAYS -e SAN -e TLS_SCRIPT \"$IMAGE\" sh -c 'eval \"$TLS_SCRIPT\"'";
}

/** The in-container scripts: tls-lib.sh in front of the kind's own part. */
export const CA_SCRIPT = () => [read("tls-lib.sh"), read("tls-ca.sh")].join("\n");
export const NODE_SCRIPT = () => [read("tls-lib.sh"), read("tls-node.sh")].join("\n");

function isIp(address: string): boolean {
    return ipaddr.IPv4.isValidFourPartDecimal(address) || ipaddr.IPv6.isValid(address);
}

const DNS_NAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const LABEL_KEY = /^[A-Za-z0-9][A-Za-z0-9._/-]*$/;
const LABEL_VALUE = /^[A-Za-z0-9._/:@-]*$/;

/**
 * The subjectAltName of a node: its name, then each address. An IP address is there twice: as
 * an iPAddress entry and as a dNSName entry holding its text, because libpq before PostgreSQL 15
 * (a PostgreSQL 13 standby) compares the host it connects to only with dNSName entries (and the
 * CN when there are none); later libpq matches either (src/interfaces/libpq/fe-secure-openssl.c
 * verify_peer_name_matches_certificate, GEN_DNS and GEN_IPADD).
 */
export function subjectAltName(node: TlsNode): string {
    const entries = [`DNS:${node.name}`];
    for (const address of node.addresses) {
        entries.push(...(isIp(address) ? [`IP:${address}`, `DNS:${address}`] : [`DNS:${address}`]));
    }
    return [...new Set(entries)].join(",");
}

/** Every problem with the arguments, each naming the node and the value; empty when they are fine. */
export function checkArgs(args: Pick<CertificateAuthorityArgs, "nodes" | "validityDays" | "labels">): string[] {
    const problems: string[] = [];
    if (args.nodes.length === 0) {
        problems.push("nodes is empty: there is nothing to certify");
    }
    const seen = new Set<string>();
    for (const node of args.nodes) {
        if (!DNS_NAME.test(node.name) || node.name.includes(".")) {
            problems.push(`node name "${node.name}" is not allowed: letters, digits, "_" and "-", at most 63, ` +
                "starting and ending with a letter or digit");
        }
        if (seen.has(node.name)) {
            problems.push(`node name "${node.name}" is used twice`);
        }
        seen.add(node.name);
        if (node.addresses.length === 0) {
            problems.push(`node ${node.name} has no address: list the addresses clients and other nodes reach it at`);
        }
        for (const address of node.addresses) {
            // A last label that starts with a digit could be read as an address (inet_aton takes "10.1", "0x0a.1").
            if (!isIp(address) && !(DNS_NAME.test(address) && /^[A-Za-z]/.test(address.split(".").pop()!))) {
                problems.push(`node ${node.name}: address "${address}" is not allowed: an IPv4 or IPv6 address or a DNS name`);
            }
        }
    }
    const days = args.validityDays;
    if (days !== undefined && (!Number.isInteger(days) || days < 1 || days > 36500)) {
        problems.push(`validityDays ${days} is not allowed: a whole number of days from 1 to 36500`);
    }
    for (const [key, value] of Object.entries(args.labels ?? {})) {
        if (!LABEL_KEY.test(key) || !LABEL_VALUE.test(value)) {
            problems.push(`label ${key}=${value} is not allowed: letters, digits and . _ / - (values also : @)`);
        }
    }
    return problems;
}

function field(stdout: pulumi.Output<string>, key: string, resource: string): pulumi.Output<string> {
    return stdout.apply((text) => {
        let value: unknown;
        try {
            value = JSON.parse(text)[key];
        } catch (err) {
            throw new Error(`${resource}: its output is not JSON (${(err as Error).message})`);
        }
        if (typeof value !== "string" || !value.startsWith("-----BEGIN ")) {
            throw new Error(`${resource}: its output has no PEM in "${key}"`);
        }
        return value;
    });
}

/** A stack's certificate authority and a server certificate for each of its nodes. */
export class CertificateAuthority extends pulumi.ComponentResource {
    /** The CA's certificate, PEM: what clients and standbys verify servers against (public, not a secret). */
    public readonly caCert: pulumi.Output<string>;
    /** Each node's certificate and key (secrets), by node name. */
    public readonly certificates: Readonly<Record<string, NodeCertificate>>;

    constructor(name: string, args: CertificateAuthorityArgs, opts?: pulumi.ComponentResourceOptions) {
        // Checked before the component registers, so bad arguments leave nothing behind.
        const problems = checkArgs(args);
        if (problems.length > 0) {
            throw new Error(`CertificateAuthority ${name}: ${problems.join("; ")}`);
        }
        // The args stay out of super(): they would be saved in state.
        super("pg-replication:index:CertificateAuthority", name, {}, opts);
        const labels = args.labels ?? {};
        const days = String(args.validityDays ?? DEFAULT_VALIDITY_DAYS);
        const secretOutputs = { additionalSecretOutputs: ["stdout", "stderr"] };

        const ca = new command.local.Command(`${name}-ca`, {
            create: runOpenssl(labels),
            // To renew the CA, replace it (`pulumi up --replace <its URN>`): every certificate follows.
            update: keepPrevious("CA"),
            environment: { DOCKER_HOST: args.dockerHost, IMAGE: args.image, CN: `${name} CA`, DAYS: days, TLS_SCRIPT: CA_SCRIPT() },
            interpreter: ["/bin/sh", "-c"],
            logging: "none",
        }, { parent: this, ...secretOutputs });
        const caCertSecret = field(ca.stdout, "caCert", `${name}-ca`);
        const caKey = field(ca.stdout, "caKey", `${name}-ca`);
        // The CA certificate is public: clients and standbys are given it.
        this.caCert = pulumi.unsecret(caCertSecret);

        const certificates: Record<string, NodeCertificate> = {};
        for (const node of args.nodes) {
            const resource = `${name}-${node.name}`;
            const san = subjectAltName(node);
            const issued = new command.local.Command(resource, {
                create: runOpenssl(labels),
                // Only a change of what it certifies (names, addresses, the CA) makes a new certificate.
                update: keepPrevious("certificate"),
                triggers: [san, this.caCert],
                environment: { DOCKER_HOST: args.dockerHost, IMAGE: args.image, CN: node.name, SAN: san, DAYS: days, TLS_SCRIPT: NODE_SCRIPT() },
                stdin: pulumi.secret(pulumi.interpolate`${caCertSecret}${caKey}`),
                interpreter: ["/bin/sh", "-c"],
                logging: "none",
            }, { parent: this, ...secretOutputs });
            certificates[node.name] = {
                cert: pulumi.secret(field(issued.stdout, "cert", resource)),
                key: pulumi.secret(field(issued.stdout, "key", resource)),
            };
        }
        this.certificates = certificates;
        this.registerOutputs({ caCert: this.caCert });
    }
}
