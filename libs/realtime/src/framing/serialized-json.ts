/**
 * A JSON value kept as the text it arrived as (already checked to be JSON):
 * a client's publish payload (its UTF-8 bytes), or a payload serialized once
 * at the call (its text), spliced into frames and commands as is instead of
 * being serialized again.
 */
export class SerializedJson {
  constructor(readonly bytes: Buffer | string) {}

  toString(): string {
    return typeof this.bytes === 'string' ? this.bytes : this.bytes.toString('utf8');
  }

  /** Where something stringifies it whole after all: the value it holds, not its fields. */
  toJSON(): unknown {
    return JSON.parse(this.toString());
  }
}
