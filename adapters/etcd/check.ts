import { Etcd3 } from 'etcd3';
import { versionAtLeast } from '../../config/check.ts';
import { translateEtcdError, type EtcdAdapterError } from './errors.ts';
import { otherLiveAgent, type HostClaim } from './host-claim.ts';
import { makeKeys } from './keys.ts';
import { buildClientOptions, type EtcdConnectionOptions } from './options.ts';
import { tlsProbeFor } from './tls-probe.ts';

export interface EtcdCheckOptions extends EtcdConnectionOptions {
  /** Key prefix whose first key is read to prove the credentials reach LinK's keys. */
  prefix: string;
  /** Oldest etcd accepted, e.g. `3.3.0`. */
  minimumVersion: string;
  /** Deadline of each call (ms). */
  callTimeoutMs: number;
  /** Names the target in an error's message, e.g. `etcd at h1:2379 (TLS)`. */
  what: string;
}

export type EtcdCheck =
  | { ok: true; version: string }
  /** The client could not even be built from the options (hosts, TLS files). */
  | { ok: false; reason: 'options'; error: unknown }
  | { ok: false; reason: 'version'; version: string }
  | { ok: false; reason: 'call'; error: EtcdAdapterError };

/**
 * What `linkctl agent --check` asks of etcd, changing nothing: the cluster's version, then one
 * keys-only read under the prefix. A refused TLS handshake is named as such (gRPC alone says
 * UNAVAILABLE for it).
 */
export async function checkEtcd(options: EtcdCheckOptions): Promise<EtcdCheck> {
  let client: Etcd3;
  try {
    client = new Etcd3(buildClientOptions(options));
  } catch (error) {
    return { ok: false, reason: 'options', error };
  }
  try {
    const status = await client.maintenance.status();
    if (!versionAtLeast(status.version, options.minimumVersion)) {
      return { ok: false, reason: 'version', version: status.version };
    }
    await client.kv.range({ key: Buffer.from(`${options.prefix}/`), limit: '1', keys_only: true });
    return { ok: true, version: status.version };
  } catch (err) {
    let typed = translateEtcdError(err, options.what);
    const probe =
      typed.code === 'ETCD_UNAVAILABLE'
        ? tlsProbeFor(options.hosts, options.tls, options.callTimeoutMs)
        : null;
    if (probe)
      typed = await probe().then(
        () => typed,
        (refusal: unknown) => translateEtcdError(refusal, 'etcd TLS'),
      );
    return { ok: false, reason: 'call', error: typed };
  } finally {
    client.close();
  }
}

/**
 * Whether an agent started now with `hostname` would refuse to (host-claim.ts): the other live
 * agent registered under it, described, or null. Reads one key; changes nothing.
 */
export async function checkHostName(
  options: EtcdConnectionOptions & {
    prefix: string;
    callTimeoutMs: number;
    hostname: string;
    claim: HostClaim;
  },
): Promise<{ ok: true; other: string | null } | { ok: false; error: EtcdAdapterError }> {
  let client: Etcd3;
  try {
    client = new Etcd3(buildClientOptions(options));
  } catch (err) {
    return { ok: false, error: translateEtcdError(err, 'host record') };
  }
  try {
    const res = await client.kv.range({ key: Buffer.from(makeKeys(options.prefix).agent(options.hostname)) });
    return { ok: true, other: otherLiveAgent(res.kvs[0]?.value.toString() ?? null, options.claim) };
  } catch (err) {
    return { ok: false, error: translateEtcdError(err, 'host record') };
  } finally {
    client.close();
  }
}
