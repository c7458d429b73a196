// What one node says about itself, as the program's topology check observes it before anything
// changes (components/topology/observe.ts, at preview and in the topology step at up): the one query it asks inside the
// node's container, and the one reader of psql's answer. The drill picks the standby to promote by
// the same received-WAL expression (RECEIVED_LSN_SQL). The status tool asks a wider query of its own
// over a connection (status/collect.ts NODE_SQL) and reads it as NodeStates for the planners
// (status/topology-input.ts).
// WAL positions stay as PostgreSQL prints them ("0/50206F0"); components/lsn.ts reads them.

/** What one node says about itself. */
export interface NodeState {
    readonly name: string;
    /** Why it could not be asked (not running, no such container, no answer); undefined when it answered. */
    readonly unreachable?: string;
    /** Whether a container of that name exists at all (running or not). */
    readonly exists: boolean;
    readonly inRecovery?: boolean;
    /** Primary: pg_current_wal_lsn(); standby: pg_last_wal_replay_lsn(). */
    readonly lsn?: string;
    readonly replayPaused?: boolean;
    /** Primary: the timeline it writes; standby: the timeline its WAL receiver receives (null without one). */
    readonly timeline?: number | null;
    /** Standby: its WAL receiver's status and the address it streams from. */
    readonly receiver?: { readonly status: string; readonly senderHost: string } | null;
    /** Standby: the furthest WAL it holds, received (flushed) or replayed; what a promotion would keep. */
    readonly receivedLsn?: string;
    /** Standby: the host its primary_conninfo names (whom it follows, streaming or not). */
    readonly upstream?: string;
    /** What Docker says about its container (undefined when Docker could not be asked). */
    readonly container?: { readonly status: string; readonly onNetwork: boolean; readonly restartPolicy: string;
        /** The image the container was created from, by the name it was given (Config.Image): a roll replaces those of another. */
        readonly image?: string;
        /** The volume mounted at the backup repository's path (pgbackrest.ts REPO_PATH), "" when none. */
        readonly repository?: string };
    /** Why its Docker engine could not be asked at all (no answer, refused); undefined when it answered. */
    readonly engineDown?: string;
    /**
     * Whether its server answers (pg_isready) at the address the declared primary reaches it at,
     * asked from the declared primary's container; only asked when its engine is down.
     */
    readonly serverAnswers?: boolean;
}

/**
 * The furthest WAL a standby holds, received (flushed) or replayed: what a promotion would keep.
 * NULL on a primary (neither function returns a position there).
 */
export const RECEIVED_LSN_SQL = "greatest(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())";

/**
 * A node's state in one row of seven columns, for `psql -X -A -t -F "|"` (parseStateAnswer):
 * in recovery, its WAL position, replay paused, timeline, WAL receiver ("status sender_host"),
 * received WAL (RECEIVED_LSN_SQL), and the host its primary_conninfo names.
 */
export const STATE_SQL = `SELECT pg_is_in_recovery(),
  CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END,
  CASE WHEN pg_is_in_recovery() THEN pg_is_wal_replay_paused() ELSE false END,
  CASE WHEN pg_is_in_recovery() THEN (SELECT received_tli FROM pg_stat_wal_receiver)
       ELSE ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int END,
  (SELECT status || ' ' || coalesce(sender_host, '') FROM pg_stat_wal_receiver),
  CASE WHEN pg_is_in_recovery() THEN ${RECEIVED_LSN_SQL} END,
  substring(current_setting('primary_conninfo') from 'host=([^ ]+)')`;

/** What the node's answer to STATE_SQL says; the rest of a NodeState comes from Docker. */
export type StateAnswer = Pick<NodeState, "inRecovery" | "lsn" | "replayPaused" | "timeline" | "receiver" | "receivedLsn" | "upstream">;

/**
 * psql's answer to STATE_SQL read into a NodeState's SQL part; undefined when it is not one whole
 * row of seven columns starting with t or f, so a short or garbled answer is never read as a primary's.
 */
export function parseStateAnswer(stdout: string): StateAnswer | undefined {
    const fields = stdout.trim().split("|");
    if (fields.length !== 7 || !["t", "f"].includes(fields[0])) {
        return undefined;
    }
    const [recovery, lsn, paused, tli, receiver, received, upstream] = fields;
    const [status, senderHost] = (receiver ?? "").split(" ");
    return {
        inRecovery: recovery === "t",
        lsn,
        replayPaused: paused === "t",
        timeline: tli === "" || tli === undefined ? null : Number(tli),
        receiver: receiver ? { status, senderHost: senderHost ?? "" } : null,
        receivedLsn: received || undefined,
        upstream: upstream || undefined,
    };
}
