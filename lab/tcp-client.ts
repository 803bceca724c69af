import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

/**
 * A TCP client of the VIP (issue 14 part 1): one connection sending a small request every
 * `intervalMs` to an echo server every host runs on the same port; each echoed line is a reply.
 * Its view is an application's: after a takeover the new owner has no state for the connection
 * and answers it with a reset, the client connects again (to whoever answers for the VIP now),
 * and the longest time between two replies is what an application waited. Runs in the lab's
 * client namespace, so its neighbour entry is the ping client's (lab/client.ts).
 *
 * Both sides are small Node programs started in their namespaces (`node -e`): no tool to install.
 */

/** Echoes every line it reads, on every address of its namespace. */
export const ECHO_SERVER = `
const net = require('node:net');
const port = Number(process.argv[1]);
net.createServer((s) => { s.on('error', () => {}); s.pipe(s); }).listen(port, '0.0.0.0');
`;

/** Connects, sends a line every interval, prints `R <ms>` per echoed line, `E <ms> <why>` per drop. */
export const TCP_CLIENT = `
const net = require('node:net');
const [host, port, interval] = [process.argv[1], Number(process.argv[2]), Number(process.argv[3])];
const connect = () => {
  const s = net.connect({ host, port, noDelay: true });
  let buffered = '';
  const timer = setInterval(() => s.writable && s.write('x\\n'), interval);
  s.on('data', (chunk) => {
    buffered += chunk.toString();
    let i;
    while ((i = buffered.indexOf('\\n')) >= 0) {
      buffered = buffered.slice(i + 1);
      process.stdout.write('R ' + Date.now() + '\\n');
    }
  });
  let gone = false;
  const again = (why) => {
    if (gone) return;
    gone = true;
    clearInterval(timer);
    s.destroy();
    process.stdout.write('E ' + Date.now() + ' ' + why + '\\n');
    setTimeout(connect, interval);
  };
  s.on('error', (e) => again(e.code || e.message));
  s.on('close', () => again('closed'));
};
connect();
`;

export interface TcpReport {
  /** Longest time between two replies in the window (or from the last one to its end), ms. */
  longestGapMs: number;
  replies: number;
  /** Connections lost (reset, refused, closed) in the window, with why. */
  drops: { t: number; why: string }[];
}

export class TcpClient {
  readonly replies: number[] = [];
  readonly drops: { t: number; why: string }[] = [];
  private readonly exited: Promise<void>;

  constructor(private readonly child: ChildProcess) {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const [kind, t, ...why] = line.split(' ');
      if (kind === 'R') this.replies.push(Number(t));
      else if (kind === 'E') this.drops.push({ t: Number(t), why: why.join(' ') });
    });
    this.exited = new Promise((resolve) => child.once('close', () => resolve()));
  }

  /** Resolves at the first reply after now, or rejects at the deadline. */
  async waitForReply(timeoutMs: number): Promise<void> {
    const start = this.replies.length;
    const deadline = Date.now() + timeoutMs;
    while (this.replies.length === start) {
      if (Date.now() > deadline) throw new Error(`tcp client: no reply within ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  report(fromT: number, toT = Date.now()): TcpReport {
    return analyseTcpReplies(this.replies, this.drops, fromT, toT);
  }

  async stop(): Promise<void> {
    this.child.kill('SIGTERM');
    await this.exited;
  }
}

/** Pure: the longest silence between replies within [fromT, toT], counted from the last reply before fromT. */
export function analyseTcpReplies(
  replies: readonly number[],
  drops: readonly { t: number; why: string }[],
  fromT: number,
  toT: number,
): TcpReport {
  let previous = [...replies].reverse().find((t) => t <= fromT) ?? fromT;
  let longest = 0;
  let count = 0;
  for (const t of replies) {
    if (t <= fromT || t > toT) continue;
    longest = Math.max(longest, t - previous);
    previous = t;
    count++;
  }
  longest = Math.max(longest, toT - previous);
  return { longestGapMs: longest, replies: count, drops: drops.filter((d) => d.t > fromT && d.t <= toT) };
}
