/**
 * Just enough of protocol buffers and gRPC's message framing for first-contact.ts, which talks to
 * etcd before the etcd client (etcd3, grpc-js, protobufjs: ~0.25 s of a start) is loaded. Pure.
 *
 * Encoding: varints (wire type 0) and length-delimited fields (wire type 2), the only kinds the
 * few requests it sends have. Decoding: every field by number, varints as bigint (etcd's int64s:
 * lease ids use all 63 bits), length-delimited as bytes; fixed-width fields are skipped.
 */

export type Field = { no: number; varint: bigint } | { no: number; bytes: Buffer | string };

export function encodeMessage(fields: readonly Field[]): Buffer {
  const parts: Buffer[] = [];
  for (const field of fields) {
    if ('varint' in field) {
      parts.push(varint(BigInt(field.no << 3)), varint(BigInt.asUintN(64, field.varint)));
    } else {
      const bytes = typeof field.bytes === 'string' ? Buffer.from(field.bytes) : field.bytes;
      parts.push(varint(BigInt((field.no << 3) | 2)), varint(BigInt(bytes.length)), bytes);
    }
  }
  return Buffer.concat(parts);
}

/** Each field number's values, in order (a repeated field has several). */
export type Decoded = Map<number, (bigint | Buffer)[]>;

export function decodeMessage(buf: Buffer): Decoded {
  const fields: Decoded = new Map();
  let at = 0;
  const readVarint = (): bigint => {
    let value = 0n;
    for (let shift = 0n; ; shift += 7n) {
      if (at >= buf.length || shift > 63n) throw new WireError('truncated varint');
      const byte = buf[at++]!;
      value |= BigInt(byte & 0x7f) << shift;
      if (byte < 0x80) return value;
    }
  };
  while (at < buf.length) {
    const key = readVarint();
    const no = Number(key >> 3n);
    const type = Number(key & 7n);
    let value: bigint | Buffer;
    if (type === 0) value = readVarint();
    else if (type === 2) {
      const length = Number(readVarint());
      if (at + length > buf.length) throw new WireError('truncated field');
      value = buf.subarray(at, at + length);
      at += length;
    } else if (type === 1 || type === 5) {
      at += type === 1 ? 8 : 4;
      continue;
    } else throw new WireError(`wire type ${type}`);
    const list = fields.get(no);
    if (list) list.push(value);
    else fields.set(no, [value]);
  }
  return fields;
}

/** The first value of a varint field as a signed int64 (0 when absent, proto3's default). */
export function int64(fields: Decoded, no: number): bigint {
  const value = fields.get(no)?.[0];
  return typeof value === 'bigint' ? BigInt.asIntN(64, value) : 0n;
}

/** Every value of a length-delimited field (an empty list when absent). */
export function bytesList(fields: Decoded, no: number): Buffer[] {
  return (fields.get(no) ?? []).filter((v): v is Buffer => Buffer.isBuffer(v));
}

export function bytes(fields: Decoded, no: number): Buffer {
  return bytesList(fields, no)[0] ?? Buffer.alloc(0);
}

/** gRPC's length-prefixed message: one byte "not compressed", four bytes of length. */
export function frame(message: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(message.length, 1);
  return Buffer.concat([head, message]);
}

/** The first whole message of a gRPC response body, or null if none is complete. */
export function firstMessage(body: Buffer): Buffer | null {
  if (body.length < 5) return null;
  if (body[0] !== 0) throw new WireError('compressed message');
  const length = body.readUInt32BE(1);
  return body.length < 5 + length ? null : body.subarray(5, 5 + length);
}

export class WireError extends Error {
  constructor(message: string) {
    super(`etcd wire: ${message}`);
    this.name = 'WireError';
  }
}

function varint(value: bigint): Buffer {
  const out: number[] = [];
  let v = value;
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return Buffer.from(out);
}
