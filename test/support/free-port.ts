import { createServer } from 'node:net';

/*
 * Ports come from below the kernel's ephemeral range (32768–60999 on Linux), one window per
 * jest worker. A port the OS picked with listen(0) is itself ephemeral: between this probe and
 * the child process binding it, any outgoing connection (another worker's thousands of
 * clients) may take it as its local port, and the other worker's own listen(0) may pick it
 * too. Here neither can happen. The windows end below 30000 so that a Redis Cluster node's
 * bus port (its port + 10000) never lands on a port handed out here.
 */
const FIRST_PORT = 20_000;
const WINDOW = 2_500;
const WINDOWS = 4;

const workerIndex = (Number(process.env.JEST_WORKER_ID ?? 1) - 1) % WINDOWS;
const windowStart = FIRST_PORT + workerIndex * WINDOW;
// Each test file has its own copy of this module: a random start keeps one file from handing
// out the ports of the file before it, whose processes may still be closing.
let next = Math.floor(Math.random() * WINDOW);

/** A TCP port free on loopback right now, that no other test worker will hand out. */
export async function freePort(): Promise<number> {
  for (let tried = 0; tried < WINDOW; tried++) {
    const port = windowStart + (next++ % WINDOW);
    if (await bindable(port)) return port;
  }
  throw new Error(`no free port in ${windowStart}–${windowStart + WINDOW - 1}`);
}

/** Whether a listener can bind the port on every interface (as the demo and redis-server do). */
function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, () => server.close(() => resolve(true)));
  });
}
