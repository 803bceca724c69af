import { isIP } from 'node:net';
import { checkServerIdentity, connect } from 'node:tls';
import type { PeerCertificate, TLSSocket } from 'node:tls';
import { isTlsFailureCode } from './errors.ts';
import { readTlsPems } from './options.ts';
import type { EtcdTlsFiles } from './options.ts';

/**
 * Redoes the TLS handshake with each etcd member, the way the gRPC client does it, to learn why a
 * connection failed. gRPC reports a refused certificate as a plain UNAVAILABLE whose only detail is
 * OpenSSL's text; Node's TLS socket gives the verification result's code
 * (`UNABLE_TO_VERIFY_LEAF_SIGNATURE`, `ERR_TLS_CERT_ALTNAME_INVALID`, an alert from etcd refusing
 * the client certificate, …) and the certificate itself, so the agent can tell a configuration
 * error from an outage by code and name the certificate and the file in one line.
 *
 * Resolves when some member accepts the handshake (then the failure was not TLS), or none could be
 * reached at all (an outage); rejects with a raw `TlsHandshakeRefused` (its `code` is Node's) when
 * a member refused it and none accepted. `translateEtcdError` turns that into `EtcdTlsError`.
 */
export type TlsProbe = () => Promise<void>;

export class TlsHandshakeRefused extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
    this.name = 'TlsHandshakeRefused';
  }
}

export interface TlsProbeOptions {
  hosts: readonly string[];
  files: EtcdTlsFiles;
  pems: { ca: Buffer; cert?: Buffer; key?: Buffer };
  /** Per member: a member that does not finish the handshake by then counts as unreachable. */
  timeoutMs: number;
}

type Outcome =
  { kind: 'accepted' } | { kind: 'unreachable' } | { kind: 'refused'; error: TlsHandshakeRefused };

function endpoint(host: string): { host: string; port: number } {
  const url = new URL(/^[a-z]+:\/\//i.test(host) ? host : `https://${host}`);
  return { host: url.hostname.replace(/^\[(.*)\]$/, '$1'), port: url.port === '' ? 2379 : Number(url.port) };
}

function dn(subject: Record<string, unknown> | undefined): string {
  if (subject === undefined) return '?';
  const parts = Object.entries(subject).map(([k, v]) => `${k}=${Array.isArray(v) ? v.join('+') : String(v)}`);
  return parts.length === 0 ? '(empty)' : parts.join(', ');
}

function describe(
  code: string,
  where: string,
  files: EtcdTlsFiles,
  peer: PeerCertificate | undefined,
  detail: string,
): string {
  const theirs =
    peer === undefined || Object.keys(peer).length === 0
      ? `etcd's certificate at ${where}`
      : `etcd's certificate at ${where} (subject ${dn(peer.subject)}, issuer ${dn(peer.issuer)})`;
  switch (code) {
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'UNABLE_TO_GET_ISSUER_CERT':
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
    case 'SELF_SIGNED_CERT_IN_CHAIN':
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
    case 'CERT_SIGNATURE_FAILURE':
    case 'CERT_UNTRUSTED':
      return `certificate signed by unknown authority: ${theirs} is not signed by the CA in ETCD_CACERT ${files.caFile ?? '?'} (${code})`;
    case 'CERT_HAS_EXPIRED':
      return `${theirs} expired on ${peer?.valid_to ?? '?'} (${code})`;
    case 'CERT_NOT_YET_VALID':
      return `${theirs} is not valid before ${peer?.valid_from ?? '?'} (${code})`;
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
    case 'HOSTNAME_MISMATCH':
      return `${theirs} does not name the host of ETCD_HOSTS (its names: ${peer?.subjectaltname ?? 'none'}) (${code})`;
    case 'ERR_SSL_WRONG_VERSION_NUMBER':
      return `${where} does not speak TLS: is it a plain-text etcd (http://)? (${code})`;
    default:
      if (code.includes('ALERT')) {
        return files.certFile === undefined
          ? `etcd at ${where} refused the connection without a client certificate: set ETCD_TLS_CERT and ETCD_TLS_KEY (${code})`
          : `etcd at ${where} refused the client certificate ETCD_TLS_CERT ${files.certFile}: is it signed by etcd's --trusted-ca-file? (${code})`;
      }
      return `handshake with ${where} failed: ${detail} (${code})`;
  }
}

function handshake(target: { host: string; port: number }, options: TlsProbeOptions): Promise<Outcome> {
  const where = `${isIP(target.host) === 6 ? `[${target.host}]` : target.host}:${target.port}`;
  return new Promise((resolve) => {
    let peer: PeerCertificate | undefined;
    // Called only from the socket's events and the timer, so `socket` is set by then.
    const done = (outcome: Outcome) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(outcome);
    };
    const refuse = (code: string, detail: string) =>
      done({
        kind: 'refused',
        error: new TlsHandshakeRefused(describe(code, where, options.files, peer, detail), code),
      });
    const timer = setTimeout(() => done({ kind: 'unreachable' }), options.timeoutMs);
    const socket: TLSSocket = connect({
      host: target.host,
      port: target.port,
      ca: options.pems.ca,
      ...(options.pems.cert === undefined ? {} : { cert: options.pems.cert }),
      ...(options.pems.key === undefined ? {} : { key: options.pems.key }),
      ...(isIP(target.host) === 0 ? { servername: target.host } : {}),
      ALPNProtocols: ['h2'],
      // Verified below, so that a refused certificate can still be named.
      rejectUnauthorized: false,
    });
    socket.once('secureConnect', () => {
      peer = socket.getPeerCertificate();
      if (!socket.authorized) {
        const reason = socket.authorizationError as unknown;
        const code =
          reason instanceof Error
            ? ((reason as NodeJS.ErrnoException).code ?? reason.message)
            : String(reason);
        refuse(code, reason instanceof Error ? reason.message : String(reason));
        return;
      }
      const identity = checkServerIdentity(target.host, peer);
      if (identity !== undefined) {
        refuse((identity as NodeJS.ErrnoException).code ?? 'ERR_TLS_CERT_ALTNAME_INVALID', identity.message);
        return;
      }
      // Under TLS 1.3 etcd judges the client certificate after the client's side of the handshake
      // is done: its refusal is an alert read later. Its HTTP/2 SETTINGS frame means accepted.
    });
    socket.once('data', () => done({ kind: 'accepted' }));
    socket.once('error', (err: NodeJS.ErrnoException) => {
      if (isTlsFailureCode(err.code)) refuse(err.code!, err.message);
      else done({ kind: 'unreachable' });
    });
    socket.once('close', () => done({ kind: 'unreachable' }));
  });
}

export function createTlsProbe(options: TlsProbeOptions): TlsProbe {
  return async () => {
    const outcomes = await Promise.all(options.hosts.map((host) => handshake(endpoint(host), options)));
    if (outcomes.some((o) => o.kind === 'accepted')) return;
    const refused = outcomes.find((o) => o.kind === 'refused');
    if (refused !== undefined) throw refused.error;
  };
}

/**
 * The probe for these settings, or null without a CA (then etcd is plain text, or trusted by the
 * system store, and a failed connection is an outage). Short: under at-least-one it delays the
 * fault of a real outage by at most `callTimeoutMs`, capped at 1 s.
 */
export function tlsProbeFor(
  hosts: readonly string[],
  tls: EtcdTlsFiles | undefined,
  callTimeoutMs: number,
): TlsProbe | null {
  const pems = readTlsPems(tls ?? {});
  if (pems === null) return null;
  return createTlsProbe({ hosts, files: tls ?? {}, pems, timeoutMs: Math.min(1000, callTimeoutMs) });
}
