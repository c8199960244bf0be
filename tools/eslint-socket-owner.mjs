// @ts-check
/**
 * ESLint rule `realtime/socket-owner`: one owner writes to and closes a
 * socket (docs/architecture.md). It reports, outside the files the config
 * exempts (transport/), every call that writes to, pings, closes or cuts a
 * WebSocket or a stream (cork, write, end, destroy), recognised by type, not
 * by name: a `Connection`'s socket, a `net.Socket` and ws's `WebSocket` alike.
 */

/** Methods that put bytes on a WebSocket or end it. */
const WEBSOCKET_METHODS = new Set(['send', 'ping', 'pong', 'close', 'terminate']);
/** Methods that put bytes on a stream, hold them back, or end it. */
const STREAM_METHODS = new Set(['write', 'end', 'cork', 'uncork', 'destroy', 'destroySoon']);

/** @param {import('typescript').Type} type @param {string[]} names */
function hasAll(type, names) {
  return names.every((name) => type.getProperty(name) !== undefined);
}

/** @param {import('typescript').Type} type */
function socketKind(type) {
  for (const part of type.isUnion() ? type.types : [type]) {
    if (hasAll(part, ['terminate', 'ping', 'send', 'readyState'])) return 'websocket';
    if (hasAll(part, ['cork', 'uncork', 'write', 'writableLength'])) return 'stream';
  }
  return undefined;
}

/** @type {import('eslint').Rule.RuleModule} */
const socketOwner = {
  meta: {
    type: 'problem',
    docs: { description: 'Only transport/ (SocketWriter) writes to or closes a socket.' },
    schema: [],
    messages: {
      write:
        '{{method}}() on a {{kind}} outside transport/: every byte of a socket goes through SocketWriter (docs/architecture.md).',
    },
  },
  create(context) {
    const services = context.sourceCode.parserServices;
    if (!services?.program || !services.esTreeNodeToTSNodeMap) return {};
    const checker = services.program.getTypeChecker();
    return {
      /** @param {import('estree').CallExpression} node */
      CallExpression(node) {
        const callee = node.callee;
        if (callee.type !== 'MemberExpression' || callee.computed) return;
        if (callee.property.type !== 'Identifier') return;
        const method = callee.property.name;
        if (!WEBSOCKET_METHODS.has(method) && !STREAM_METHODS.has(method)) return;
        const target = services.esTreeNodeToTSNodeMap.get(callee.object);
        const kind = socketKind(checker.getNonNullableType(checker.getTypeAtLocation(target)));
        if (kind === undefined) return;
        if (kind === 'websocket' ? !WEBSOCKET_METHODS.has(method) : !STREAM_METHODS.has(method)) {
          return;
        }
        context.report({ node, messageId: 'write', data: { method, kind } });
      },
    };
  },
};

export default { rules: { 'socket-owner': socketOwner } };
