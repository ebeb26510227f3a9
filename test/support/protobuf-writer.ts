/**
 * A minimal protobuf writer (wire types 0 and 2), enough to hand-write tiny ONNX models (onnx.proto field
 * numbers are given by the callers). Test support for the sherpa engines' real-module tests. Hand-written:
 * pulling in protobufjs and onnx.proto for a few dozen bytes of model would be far larger.
 */
export type Field = Uint8Array;

export function varint(value: number | bigint): number[] {
  let v = BigInt.asUintN(64, BigInt(value));
  const out: number[] = [];
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v !== 0n) byte |= 0x80;
    out.push(byte);
  } while (v !== 0n);
  return out;
}

export function key(field: number, wireType: number): number[] { return varint((field << 3) | wireType); }
export function intField(field: number, value: number | bigint): Field { return Uint8Array.from([...key(field, 0), ...varint(value)]); }
export function bytesField(field: number, bytes: Uint8Array): Field {
  return concat([Uint8Array.from([...key(field, 2), ...varint(bytes.length)]), bytes]);
}
export function strField(field: number, value: string): Field { return bytesField(field, new TextEncoder().encode(value)); }
export function msg(field: number, ...parts: Field[]): Field { return bytesField(field, concat(parts)); }
export function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}
