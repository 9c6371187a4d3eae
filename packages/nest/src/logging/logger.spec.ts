import { accessLineWriter, createLogger, type AccessLine } from './logger';

function capture(): { lines: string[]; stream: { write(line: string): void } } {
  const lines: string[] = [];
  return { lines, stream: { write: (line: string) => void lines.push(line) } };
}

describe('accessLineWriter', () => {
  beforeAll(() => jest.useFakeTimers({ now: new Date('2026-11-21T03:04:05.678Z') }));
  afterAll(() => jest.useRealTimers());

  const cases: [string, AccessLine][] = [
    [
      'a full line',
      { traceId: 'c379183e9e15c9a69a2faef2e4d435ef', method: 'POST', route: '/v1/x/:id', path: '/v1/x/A', status: 200, ms: 0.9149, principal: 'admin' },
    ],
    ['no principal, no trace', { method: 'GET', route: 'unmatched', path: '/nope', status: 404, ms: 12 }],
    [
      'service fields, undefined ones left out',
      {
        traceId: 'ab',
        method: 'POST',
        route: '/v1/chat/completions',
        path: '/v1/chat/completions',
        status: 502,
        ms: 3.456,
        principal: 'p',
        extra: { model: 'gpt-4o', connector: undefined, attempts: 2 },
      },
    ],
    [
      'characters that need escaping',
      { traceId: 'ab', method: 'GET', route: '/v1/x/:id', path: '/v1/x/a"b\\c\u0001', status: 400, ms: 1, principal: 'name "quoted"' },
    ],
  ];

  it.each(cases)('writes %s exactly as pino writes it', (_name, line) => {
    const viaPino = capture();
    const direct = capture();
    const reference = createLogger('svc', 'info', viaPino.stream).child({ context: 'http' });
    const logger = createLogger('svc', 'info', direct.stream).child({ context: 'http' });
    // The object the kit used to hand to pino, in its field order.
    const { traceId, method, route, path, status, ms, principal, extra } = line;
    reference.info({ traceId, method, route, path, status, ms: Math.round(ms * 100) / 100, principal, ...extra }, 'request');
    accessLineWriter(logger)(line);
    expect(direct.lines).toHaveLength(1);
    expect(direct.lines[0]).toBe(viaPino.lines[0]);
    expect(JSON.parse(direct.lines[0] as string)).toMatchObject({ level: 'info', service: 'svc', context: 'http', msg: 'request', status: line.status });
  });

  it('writes nothing when the level is above info', () => {
    const out = capture();
    accessLineWriter(createLogger('svc', 'warn', out.stream))(cases[0]![1]);
    expect(out.lines).toEqual([]);
  });
});
