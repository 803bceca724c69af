import { backoffDelay, type BackoffPolicy } from '../backoff.ts';
import type { Logger } from '../logger.ts';
import { EtcdBadValueError } from './errors.ts';
import type { Keys } from './keys.ts';
import type { EtcdRpc } from './rpc.ts';

/** This host's drain flag as stored at `<prefix>/drain/<hostname>`. */
export type DrainRecord = { drained: true; since: string } | { drained: false };

/**
 * The drain flag of this host. A write that rejects is refused: whatever of it etcd may still
 * take is undone in the background, so the caller changes nothing locally.
 */
export interface DrainStore {
  /** The stored flag; `{drained: false}` when the key is absent. */
  read(): Promise<DrainRecord>;
  write(record: DrainRecord): Promise<void>;
}

/** A refused write's undo is retried this often while etcd cannot take it. */
const UNDO_RETRY: BackoffPolicy = { initialDelayMs: 100, maxDelayMs: 2000, factor: 2, jitter: 0.2 };

/** A write whose key moved under it (etcdctl, a second process of this host) is sent again this often. */
const WRITE_ATTEMPTS = 3;

export function encodeDrainRecord(record: DrainRecord): string {
  return JSON.stringify(record.drained ? { drained: true, since: record.since } : { drained: false });
}

export function parseDrainRecord(raw: string, key: string): DrainRecord {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (err) {
    throw new EtcdBadValueError(`${key}: not JSON`, { cause: err });
  }
  const record = value as { drained?: unknown; since?: unknown };
  if (typeof value !== 'object' || value === null || typeof record.drained !== 'boolean') {
    throw new EtcdBadValueError(`${key}: not a drain record ({"drained": true|false, "since"?})`);
  }
  if (!record.drained) return { drained: false };
  return {
    drained: true,
    since: typeof record.since === 'string' ? record.since : new Date(0).toISOString(),
  };
}

/**
 * This host's drain flag at `<prefix>/drain/<hostname>` (keys.ts; no lease: it outlives the agent).
 * Undraining writes `{"drained":false}` rather than deleting the key, so every write moves the
 * key's revision: that is what keeps a refused write from landing late.
 *
 * A write that fails with a timeout or an outage may still reach etcd later (a request behind a
 * partition). The caller reports it refused (HTTP 503) and changes nothing, so etcd must end up
 * agreeing: every write is a transaction conditioned on the key's mod revision as last seen, and
 * a refused write is undone in the background by an unconditional put of the last accepted
 * record, retried until etcd takes it or a newer write is accepted. The undo moves the revision,
 * so a late copy of the refused write fails its comparison; one that landed before is overwritten.
 */
export class EtcdDrainStore implements DrainStore {
  /** Given the session's transport (cli/agent.ts makes it and hands it to both). */
  private readonly key: Buffer;
  /** The key's mod revision as last seen ('0': absent); writes compare with it. */
  private revision = '0';
  private accepted: DrainRecord = { drained: false };
  /** Bumped by every write: an undo stops once a newer write has been accepted. */
  private generation = 0;
  private undoTimer: NodeJS.Timeout | undefined;
  /** An undo's put on its way: a new write waits for it, so the undo cannot land after it. */
  private undoing: Promise<void> | null = null;

  constructor(
    private readonly rpc: EtcdRpc,
    keys: Keys,
    hostname: string,
    private readonly logger: Logger,
  ) {
    this.key = Buffer.from(keys.drain(hostname));
  }

  async read(): Promise<DrainRecord> {
    const res = await this.rpc.range({ key: this.key });
    const kv = res.kvs[0];
    this.revision = kv === undefined ? '0' : String(kv.mod_revision);
    this.accepted =
      kv === undefined ? { drained: false } : parseDrainRecord(kv.value.toString(), this.key.toString());
    return this.accepted;
  }

  async write(record: DrainRecord): Promise<void> {
    const generation = ++this.generation;
    this.stopUndo();
    await this.undoing;
    const previous = this.accepted;
    try {
      for (let attempt = 1; ; attempt++) {
        const res = await this.rpc.txn({
          compare: [{ key: this.key, target: 'Mod', result: 'Equal', mod_revision: this.revision }],
          success: [{ request_put: { key: this.key, value: Buffer.from(encodeDrainRecord(record)) } }],
          failure: [{ request_range: { key: this.key } }],
        });
        if (res.succeeded) {
          this.revision = String(res.header.revision);
          this.accepted = record;
          return;
        }
        // Written by someone else since: take its revision and write over it.
        const kv = res.responses[0]?.response_range.kvs[0];
        this.revision = kv === undefined ? '0' : String(kv.mod_revision);
        if (attempt >= WRITE_ATTEMPTS)
          throw new EtcdBadValueError(`${this.key.toString()}: kept changing under this write`);
      }
    } catch (err) {
      this.undo(previous, generation, 1);
      throw err;
    }
  }

  /** Stops a pending undo (the agent's stop). */
  close(): void {
    this.generation++;
    this.stopUndo();
  }

  private undo(previous: DrainRecord, generation: number, attempt: number): void {
    this.undoTimer = setTimeout(
      () => {
        this.undoTimer = undefined;
        if (generation !== this.generation) return;
        this.undoing = this.rpc
          .put({ key: this.key, value: Buffer.from(encodeDrainRecord(previous)) })
          .then((res) => {
            this.revision = String(res.header.revision);
            this.accepted = previous;
            this.logger.info('drain: the refused write of the drain flag is undone', {
              drained: previous.drained,
            });
          })
          .catch(() => {
            if (generation === this.generation) this.undo(previous, generation, attempt + 1);
          })
          .finally(() => {
            this.undoing = null;
          });
      },
      backoffDelay(UNDO_RETRY, attempt),
    );
    this.undoTimer.unref();
  }

  private stopUndo(): void {
    if (this.undoTimer !== undefined) clearTimeout(this.undoTimer);
    this.undoTimer = undefined;
  }
}
