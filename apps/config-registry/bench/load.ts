// A closed-loop HTTP load generator run in its own process, so it never shares an event
// loop with the server it measures. Prints one JSON line: {count, errors, seconds, latenciesMs}.
import { Agent, request } from 'node:http';

interface LoadArgs {
  url: string;
  headers: Record<string, string>;
  concurrency: number;
  seconds: number;
  warmupSeconds: number;
}

const args = JSON.parse(process.argv[2] ?? '{}') as LoadArgs;
const agent = new Agent({ keepAlive: true, maxSockets: args.concurrency });
const target = new URL(args.url);

function once(): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ host: target.hostname, port: target.port, path: target.pathname + target.search, headers: args.headers, agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode === 200));
      res.on('error', () => resolve(false));
    });
    req.on('error', () => resolve(false));
    req.end();
  });
}

async function run(): Promise<void> {
  const latencies: number[] = [];
  let errors = 0;
  let recording = false;
  const start = performance.now();
  const warmupEnd = start + args.warmupSeconds * 1000;
  const end = warmupEnd + args.seconds * 1000;
  let recordStart = warmupEnd;
  const worker = async (): Promise<void> => {
    for (;;) {
      const t0 = performance.now();
      if (t0 >= end) return;
      if (!recording && t0 >= warmupEnd) {
        recording = true;
        recordStart = t0;
      }
      const ok = await once();
      const t1 = performance.now();
      if (t0 >= warmupEnd) {
        latencies.push(t1 - t0);
        if (!ok) errors++;
      }
    }
  };
  await Promise.all(Array.from({ length: args.concurrency }, worker));
  const seconds = (performance.now() - recordStart) / 1000;
  process.stdout.write(`${JSON.stringify({ count: latencies.length, errors, seconds, latenciesMs: latencies })}\n`);
  agent.destroy();
}

void run();
