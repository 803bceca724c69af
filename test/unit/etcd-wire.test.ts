import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  WireError,
  bytes,
  bytesList,
  decodeMessage,
  encodeMessage,
  firstMessage,
  frame,
  int64,
} from '../../adapters/etcd/wire.ts';

/**
 * adapters/etcd/wire.ts, the protobuf subset of a restart's first contact: what it encodes is
 * what protobuf's own encoding gives (bytes checked by hand against the spec), what it decodes
 * includes 63-bit lease ids and repeated fields; truncated input is an error, not a wrong value.
 */

describe('the first contact wire format', () => {
  it('encodes varints and length-delimited fields as protobuf does', () => {
    // LeaseKeepAliveRequest { ID: 150 }: field 1 varint -> 08 96 01
    assert.deepEqual([...encodeMessage([{ no: 1, varint: 150n }])], [0x08, 0x96, 0x01]);
    // RangeRequest { key: "ab", range_end: "ac" }
    assert.deepEqual(
      [
        ...encodeMessage([
          { no: 1, bytes: 'ab' },
          { no: 2, bytes: Buffer.from('ac') },
        ]),
      ],
      [0x0a, 0x02, 0x61, 0x62, 0x12, 0x02, 0x61, 0x63],
    );
  });

  it('decodes what it encodes: a 63-bit lease id, several values of a repeated field', () => {
    const id = 7587869153446543173n;
    const kv = encodeMessage([
      { no: 1, bytes: '/link/default/198.18.0.10_32' },
      { no: 5, bytes: 'h1' },
      { no: 6, varint: id },
    ]);
    const res = decodeMessage(
      encodeMessage([
        { no: 2, bytes: kv },
        { no: 2, bytes: kv },
        { no: 4, varint: 2n },
      ]),
    );
    assert.equal(bytesList(res, 2).length, 2);
    const first = decodeMessage(bytesList(res, 2)[0]!);
    assert.equal(int64(first, 6), id);
    assert.equal(bytes(first, 5).toString(), 'h1');
    assert.equal(int64(res, 4), 2n);
    assert.equal(int64(res, 9), 0n, "an absent field is proto3's default");
    assert.equal(bytes(res, 9).length, 0);
    assert.equal(int64(decodeMessage(encodeMessage([{ no: 3, varint: -1n }])), 3), -1n, 'int64 is signed');
  });

  it('skips fixed-width fields; truncated input throws WireError', () => {
    const fixed = Buffer.from([0x09, 1, 2, 3, 4, 5, 6, 7, 8, 0x10, 0x05]);
    assert.equal(int64(decodeMessage(fixed), 2), 5n);
    assert.throws(() => decodeMessage(Buffer.from([0x08, 0x96])), WireError);
    assert.throws(() => decodeMessage(Buffer.from([0x0a, 0x05, 0x61])), WireError);
  });

  it("frames gRPC's length-prefixed message and finds the first whole one", () => {
    const message = encodeMessage([{ no: 1, varint: 1n }]);
    const framed = frame(message);
    assert.deepEqual([...framed.subarray(0, 5)], [0, 0, 0, 0, 2]);
    assert.deepEqual(firstMessage(Buffer.concat([framed, frame(message)])), message);
    assert.equal(firstMessage(framed.subarray(0, 6)), null);
    assert.throws(() => firstMessage(Buffer.from([1, 0, 0, 0, 0])), WireError);
  });
});
