import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SeenRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
}

/** A real HTTP API for the broker to forward to; each test sets its behaviour. */
export class FakeApi {
  handler: (req: IncomingMessage, res: ServerResponse) => void;
  readonly seen: SeenRequest[] = [];
  url = '';
  private readonly server: Server;

  constructor(readonly name: string) {
    this.handler = this.answerOk;
    this.server = createServer((req, res) => {
      this.seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
      this.handler(req, res);
    });
  }

  /** The default behaviour: 200 with the fake's name and the url it got; forgets what it saw. */
  reset(): void {
    this.handler = this.answerOk;
    this.seen.length = 0;
  }

  private readonly answerOk = (req: IncomingMessage, res: ServerResponse): void => {
    req.resume();
    res.writeHead(200, { 'content-type': 'application/json', 'x-fake': this.name }).end(JSON.stringify({ from: this.name, url: req.url }));
  };

  static async start(name: string): Promise<FakeApi> {
    const fake = new FakeApi(name);
    fake.server.listen(0, '127.0.0.1');
    await once(fake.server, 'listening');
    fake.url = `http://127.0.0.1:${(fake.server.address() as AddressInfo).port}`;
    return fake;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

/** A Patchbay problem+json answer's fields the tests read. */
export async function problem(res: Response): Promise<{ code: string; detail: string; status: number }> {
  return (await res.json()) as { code: string; detail: string; status: number };
}
