// Just enough of the protobuf wire format for etcd's KV and Maintenance calls, so the etcd
// comparison needs no generated code and no new dependency.

const wireVarint = 0;
const wireFixed64 = 1;
const wireLengthDelimited = 2;
const wireFixed32 = 5;

function varint(value) {
  const bytes = [];
  let v = BigInt(value);
  while (v >= 0x80n) {
    bytes.push(Number((v & 0x7fn) | 0x80n));
    v >>= 7n;
  }
  bytes.push(Number(v));
  return Buffer.from(bytes);
}

/** Encodes a message whose fields are all `bytes` (strings are taken as UTF-8). */
export function encodeBytesFields(fields) {
  const parts = [];
  for (const [number, value] of fields) {
    const bytes = typeof value === "string" ? Buffer.from(value, "utf8") : Buffer.from(value);
    parts.push(varint((number << 3) | wireLengthDelimited), varint(bytes.length), bytes);
  }
  return Buffer.concat(parts);
}

/**
 * Decodes one message level: a map from field number to its last value, varints as BigInt and
 * length-delimited fields as Buffers (decode nested messages with another call).
 */
export function decodeFields(buffer) {
  const fields = new Map();
  let offset = 0;
  const readVarint = () => {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (offset >= buffer.length) throw new Error("truncated protobuf varint");
      const byte = buffer[offset++];
      result |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return result;
      shift += 7n;
    }
  };
  while (offset < buffer.length) {
    const key = Number(readVarint());
    const number = key >>> 3;
    switch (key & 7) {
      case wireVarint:
        fields.set(number, readVarint());
        break;
      case wireFixed64:
        offset += 8;
        break;
      case wireLengthDelimited: {
        const length = Number(readVarint());
        fields.set(number, buffer.subarray(offset, offset + length));
        offset += length;
        break;
      }
      case wireFixed32:
        offset += 4;
        break;
      default:
        throw new Error(`unsupported protobuf wire type ${key & 7}`);
    }
  }
  return fields;
}
