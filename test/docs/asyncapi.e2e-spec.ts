import 'reflect-metadata';
import { DiagnosticSeverity, Parser } from '@asyncapi/parser';
import { MESSAGE_MAPPING_METADATA, MESSAGE_METADATA } from '@nestjs/websockets/constants';
import { RealtimeGateway } from '../../libs/realtime/src/gateway/realtime.gateway';
import * as protocol from '../../libs/realtime/src/protocol';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const SPEC = join(__dirname, '..', '..', 'docs', 'asyncapi.yaml');

/**
 * `ack`/`acked` (PROTOCOL.md §2) are described whether or not protocol/ exports
 * them yet (the server side lands with offline delivery); once it does, they
 * are checked like the rest.
 */
const withAck = (names: string[], event: 'ack' | 'acked') => [...new Set([...names, event])].sort();

/** The events RealtimeGateway handles, read from its @SubscribeMessage metadata. */
function gatewayEvents(): string[] {
  const prototype = RealtimeGateway.prototype as unknown as Record<string, unknown>;
  return Object.getOwnPropertyNames(prototype)
    .map((name) => prototype[name])
    .filter((handler) => Reflect.getMetadata(MESSAGE_MAPPING_METADATA, handler as object) === true)
    .map((handler) => Reflect.getMetadata(MESSAGE_METADATA, handler as object) as string)
    .filter((event) => event !== protocol.INVALID_FRAME_EVENT);
}

/**
 * docs/asyncapi.yaml is valid AsyncAPI (the official parser, no diagnostics
 * at warning level or worse) and lists exactly what the code has: every event
 * the gateway handles, every event name, error code and close code protocol/ exports.
 */
describe('docs/asyncapi.yaml', () => {
  let document: NonNullable<Awaited<ReturnType<Parser['parse']>>['document']>;

  beforeAll(async () => {
    const { document: parsed, diagnostics } = await new Parser().parse(readFileSync(SPEC, 'utf8'));
    const serious = [DiagnosticSeverity.Error, DiagnosticSeverity.Warning];
    expect(diagnostics.filter((d) => serious.includes(d.severity)).map((d) => d.message)).toEqual(
      [],
    );
    document = parsed!;
  });

  const namesOf = (operation: string) =>
    document
      .operations()
      .get(operation)!
      .messages()
      .all()
      .map((message) => message.name()!)
      .sort();

  const exported = (values: Record<string, string>) => Object.values(values);

  it('lists every client event the gateway handles and protocol/ names, and no other', () => {
    const code = [...new Set([...gatewayEvents(), ...exported(protocol.ClientEvent)])];
    expect(gatewayEvents().length).toBeGreaterThanOrEqual(5);
    const documented = namesOf('receiveClientEvents');
    expect(documented).toEqual(withAck(code, 'ack'));
    expect(document.operations().get('receiveClientEvents')!.action()).toBe('receive');
  });

  it('lists every server event protocol/ names, and no other', () => {
    const code = exported(protocol.ServerEvent);
    const documented = namesOf('sendServerEvents');
    expect(documented).toEqual(withAck(code, 'acked'));
    expect(document.operations().get('sendServerEvents')!.action()).toBe('send');
  });

  it('gives every message a frame schema whose event is the message name', () => {
    for (const message of document.allMessages().all()) {
      const payload = message.payload()!;
      expect(payload.required()).toEqual(['event', 'data']);
      expect(payload.properties()!.event.const()).toBe(message.name());
      expect(payload.properties()!.data.type()).toBe('object');
    }
  });

  it('lists exactly the error codes of protocol/', () => {
    const schema = document.components().schemas().get('ErrorCode')!;
    expect([...(schema.enum() as string[])].sort()).toEqual(exported(protocol.ErrorCode).sort());
  });

  it('lists exactly the close codes of protocol/, each in the table', () => {
    const schema = document.components().schemas().get('CloseCode')!;
    const codes = Object.values(protocol.CloseCode).sort();
    expect([...(schema.enum() as number[])].sort()).toEqual(codes);
    const table = document.info().description()!;
    for (const code of codes) expect(table).toMatch(new RegExp(`^\\| ${code} \\|`, 'm'));
  });
});
