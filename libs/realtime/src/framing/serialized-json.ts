/**
 * A JSON value kept as the text it arrived as (UTF-8, already checked to be
 * JSON): a client's publish payload, spliced into the `message` frame as is
 * instead of being serialized again.
 */
export class SerializedJson {
  constructor(readonly bytes: Buffer) {}

  toString(): string {
    return this.bytes.toString('utf8');
  }
}
