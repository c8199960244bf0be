import { RealtimeClient, type RealtimeError } from '@nest-realtime/client';
import type { AppEvents } from '../../app-events';
import type { Order } from '../../orders/order';

/**
 * The demo page: signs in with a development token, then shows orders,
 * inventory and broadcasts live through RealtimeClient. Admins also get the
 * demo's admin routes and /ws/stats. Built by `npm run build:web` (esbuild).
 */
const STATUSES = ['pending', 'paid', 'shipped', 'delivered', 'cancelled'] as const;

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;

let session: { userId: string; admin: boolean } | undefined;
let token = '';

/** A fresh development token for the signed-in user (the client asks on connect and before expiry). */
async function fetchToken(): Promise<string> {
  const { userId, admin } = session!;
  const reply = await api<{ token: string }>('POST', '/auth/token', {
    userId,
    roles: admin ? ['admin'] : [],
    ttlSeconds: 600,
  });
  return (token = reply.token);
}

async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const response = await fetch(path, {
    method,
    headers: {
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
  return (text ? JSON.parse(text) : {}) as T;
}

const client = new RealtimeClient<AppEvents>({
  url: `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`,
  getToken: fetchToken,
});

client.on('state', (state) => {
  $('state').textContent = state;
  $('state').dataset.state = state;
});
client.on('connected', ({ userId }) => {
  $('whoami').textContent = `signed in as ${userId}`;
  $('reconnects').textContent = String(client.stats.reconnects);
});
client.on('disconnected', ({ code, delayMs }) =>
  note(`connection lost (${code}); reconnecting in ${delayMs} ms`),
);
client.on('closed', ({ code, status }) =>
  note(`connection closed (${status ?? code}); reload the page to sign in again`),
);
client.on('broadcast', ({ payload }) =>
  note(`broadcast: ${(payload as { message: string }).message}`),
);
client.on('user-message', ({ type, payload }) => note(`${type}: ${JSON.stringify(payload)}`));
// No list route in the demo: after lost history the tables show only what arrives from now on.
// The chat room is read for its presence only: its history does not matter here.
client.on('resync-needed', ({ topic }) => {
  if (topic !== CHAT_ROOM) note(`history of ${topic} was lost: showing new events only`);
});
client.on('error', (error) =>
  note(`error: ${(error as RealtimeError).code ?? ''} ${error.message}`),
);

function showOrder(order: Order): void {
  let row = document.querySelector<HTMLTableRowElement>(`tr[data-order="${order.id}"]`);
  if (!row) {
    row = $<HTMLTableSectionElement>('orders').insertRow(0);
    row.dataset.order = order.id;
    for (let i = 0; i < 4; i++) row.insertCell();
  }
  const [id, owner, items, status] = Array.from(row.cells);
  id.textContent = order.id.slice(0, 8);
  owner.textContent = order.ownerId;
  items.textContent = order.items.map(({ sku, qty }) => `${qty} × ${sku}`).join(', ');
  status.replaceChildren(session?.admin ? statusPicker(order) : order.status);
  status.dataset.status = order.status;
}

/** Admins change an order's status right in its row (PATCH /orders/:id). */
function statusPicker(order: Order): HTMLSelectElement {
  const select = document.createElement('select');
  select.setAttribute('aria-label', `status of order ${order.id.slice(0, 8)}`);
  for (const status of STATUSES)
    select.add(new Option(status, status, false, status === order.status));
  select.onchange = () => run(() => api('PATCH', `/orders/${order.id}`, { status: select.value }));
  return select;
}

function showStock(sku: string, stock: number): void {
  let row = document.querySelector<HTMLTableRowElement>(`tr[data-sku="${CSS.escape(sku)}"]`);
  if (!row) {
    row = $<HTMLTableSectionElement>('inventory').insertRow();
    row.dataset.sku = sku;
    row.insertCell().textContent = sku;
    row.insertCell();
  }
  row.cells[1].textContent = String(stock);
}

/** Who is in the chat room: read once per connection, then kept by its presence diffs. */
const CHAT_ROOM = 'chat:lobby';
const chatMembers = new Set<string>();

function showChat(users: number): void {
  $('chat-count').textContent = String(users);
  $('chat-members').replaceChildren(
    ...[...chatMembers].sort().map((userId) => {
      const item = document.createElement('li');
      item.textContent = userId;
      return item;
    }),
  );
}

/** One page of up to 1000 members; a bigger room shows its count only. */
async function readChat(): Promise<void> {
  const page = await client.presence(CHAT_ROOM, { limit: 1000 });
  chatMembers.clear();
  for (const { userId } of page.members) chatMembers.add(userId);
  showChat(page.users);
}

client.on('presence-diff', ({ topic, joined, left, users }) => {
  if (topic !== CHAT_ROOM) return;
  for (const userId of joined) chatMembers.add(userId);
  for (const userId of left) chatMembers.delete(userId);
  showChat(users);
});

/** `orders` keeps presence without joins and leaves: its count, every few seconds. */
async function readOrderWatchers(): Promise<void> {
  if (client.state !== 'connected') return;
  const { connections } = await client.presence('orders', { limit: 0 });
  $('orders-watchers').textContent = String(connections);
}

function note(text: string): void {
  const item = document.createElement('li');
  item.textContent = `${new Date().toLocaleTimeString()} ${text}`;
  $('feed').prepend(item);
}

/** What a failed stats refresh put up, so that the next one that works takes it down again. */
let statsProblem = '';

/** Not through run(): a refresh every 2 s would wipe the error of the admin's last action. */
function refreshStatsQuietly(): void {
  const problem = $('problem');
  refreshStats().then(
    () => {
      if (statsProblem && problem.textContent === statsProblem) problem.textContent = '';
      statsProblem = '';
    },
    (error: Error) => {
      if (problem.textContent) return;
      statsProblem = `stats: ${error.message}`;
      problem.textContent = statsProblem;
    },
  );
}

function run(action: () => Promise<unknown>): void {
  $('problem').textContent = '';
  action().catch((error: Error) => ($('problem').textContent = error.message));
}

/** A form's fields as strings (these forms have no file inputs). */
type Fields = (name: string) => string;

function onSubmit(id: string, action: (field: Fields) => Promise<unknown>): void {
  $<HTMLFormElement>(id).addEventListener('submit', (event) => {
    event.preventDefault();
    const form = new FormData(event.target as HTMLFormElement);
    run(() => action((name) => (form.get(name) as string | null) ?? ''));
  });
}

onSubmit('sign-in', (field) => {
  session = { userId: field('userId'), admin: field('admin') === 'on' };
  $('sign-in').hidden = true;
  $('app').hidden = false;
  $('admin').hidden = !session.admin;
  client.subscribe('orders', ({ payload }) => showOrder(payload));
  client.subscribe('inventory', ({ payload }) => showStock(payload.sku, payload.stock));
  const chat = client.subscribe(CHAT_ROOM, () => undefined, { presence: true });
  client.on('connected', () => {
    void chat.ready
      .then(() => Promise.all([readChat(), readOrderWatchers()]))
      .catch(() => undefined);
  });
  setInterval(() => void readOrderWatchers().catch(() => undefined), 5_000);
  client.connect();
  if (session.admin) setInterval(refreshStatsQuietly, 2_000);
  return Promise.resolve();
});

onSubmit('create-order', (field) =>
  api('POST', '/orders', { items: [{ sku: field('sku'), qty: Number(field('qty')) }] }),
);
onSubmit('set-stock', (field) =>
  api('PUT', `/inventory/${encodeURIComponent(field('sku'))}`, { stock: Number(field('stock')) }),
);
onSubmit('broadcast', (field) => api('POST', '/admin/broadcast', { message: field('message') }));
onSubmit('revoke', (field) => api('POST', '/admin/revoke', { userId: field('userId') }));

async function refreshStats(): Promise<void> {
  $('stats').textContent = JSON.stringify(await api('GET', '/ws/stats'), null, 2);
}
