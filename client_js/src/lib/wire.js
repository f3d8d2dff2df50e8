// The wire format: one msgpack map per binary frame.
//
// Ids are 64-bit integers. JavaScript numbers lose precision past 2^53, so every
// integer that does not fit a safe Number is decoded as a BigInt (`useBigInt64`),
// and ids must never be turned into Numbers. Use idStr(id) for URLs, Map keys and
// React keys, and idOf(str) to turn a URL segment back into an id for the wire.
import { Decoder, Encoder } from '@msgpack/msgpack';

const encoder = new Encoder({ useBigInt64: true, ignoreUndefined: true });
// `useBigInt64` on decode: int64/uint64 values come back as BigInt. Small counters
// (seq, counts, times) arrive as int32 or smaller and stay plain Numbers, but large
// ones may be BigInt too; compare with Number(x) only where the value is a count.
const decoder = new Decoder({ useBigInt64: true });

/** Encode one message (a plain object) to bytes. */
export function encode(message) {
  return encoder.encode(message);
}

/** Decode one frame (ArrayBuffer or Uint8Array) to a value. Throws on bad input. */
export function decode(data) {
  return decoder.decode(data instanceof ArrayBuffer ? new Uint8Array(data) : data);
}

/** The canonical string form of an id (BigInt, Number or decimal string). */
export function idStr(id) {
  if (id === null || id === undefined) return '';
  return typeof id === 'string' ? id : id.toString();
}

const DIGITS = /^[0-9]{1,20}$/;

/** An id for the wire from its string form (e.g. a URL segment); null if malformed. */
export function idOf(str) {
  if (typeof str === 'bigint') return str;
  if (typeof str === 'number') return BigInt(str);
  if (typeof str !== 'string' || !DIGITS.test(str)) return null;
  const v = BigInt(str);
  return v < 2n ** 64n ? v : null;
}

/** True when two ids (any form) are the same id. */
export function sameId(a, b) {
  return a !== null && a !== undefined && b !== null && b !== undefined && idStr(a) === idStr(b);
}

/** A count or time that may be a BigInt, as a Number (never use this for ids). */
export function num(v) {
  return typeof v === 'bigint' ? Number(v) : v;
}
