/**
 * A minimal protobuf writer (wire types 0 and 2) and the few ONNX messages (onnx.proto field numbers) needed
 * to hand-write tiny models for the sherpa engines' real-module tests. Hand-written: protobufjs plus onnx.proto
 * for a few dozen bytes of model would be far larger.
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

// ---- ONNX messages ----

/** TensorProto.DataType */
export const FLOAT = 1;
export const INT64 = 7;

/** ValueInfoProto: name + tensor type with fixed or symbolic dims. */
export function valueInfo(field: number, name: string, elemType: number, dims: Array<number | string>): Field {
  const dimFields = dims.map((d) => msg(1, typeof d === 'number' ? intField(1, d) : strField(2, d)));
  return msg(field, strField(1, name), msg(2, msg(1, intField(1, elemType), msg(2, ...dimFields))));
}

export function floatTensor(name: string, dims: number[], values: number[]): Field {
  const raw = new Uint8Array(new Float32Array(values).buffer);
  return msg(5, ...dims.map((d) => intField(1, d)), intField(2, FLOAT), strField(8, name), bytesField(9, raw));
}

export function int64Tensor(name: string, dims: number[], values: number[]): Field {
  const raw = new Uint8Array(new BigInt64Array(values.map((v) => BigInt(v))).buffer);
  return msg(5, ...dims.map((d) => intField(1, d)), intField(2, INT64), strField(8, name), bytesField(9, raw));
}

export function node(opType: string, inputs: string[], outputs: string[], ...attributes: Field[]): Field {
  return msg(1, ...inputs.map((i) => strField(1, i)), ...outputs.map((o) => strField(2, o)), strField(4, opType), ...attributes);
}

export function intAttribute(name: string, value: number): Field {
  return msg(5, strField(1, name), intField(3, value), intField(20, 2 /* INT */));
}
