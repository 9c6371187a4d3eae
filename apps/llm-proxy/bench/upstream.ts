// A zero-delay OpenAI-compatible upstream for the benchmark: fixed answers, no parsing.
// Streaming requests get a paced SSE answer: the first event at once, then one every PACE_MS.
import { createServer } from 'node:http';

const PACE_MS = Number(process.env.PACE_MS ?? 10);
const EVENTS = Number(process.env.EVENTS ?? 5);
const completion = Buffer.from(
  JSON.stringify({
    id: 'chatcmpl-bench',
    object: 'chat.completion',
    created: 1,
    model: 'bench-model',
    choices: [{ index: 0, message: { role: 'assistant', content: 'Hello! How can I help you today?' }, finish_reason: 'stop' }],
    usage: { prompt_tokens: 12, completion_tokens: 9, total_tokens: 21 },
  }),
);
const event = (content: string): string =>
  `data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1,"model":"bench-model","choices":[{"index":0,"delta":{"content":"${content}"},"finish_reason":null}]}\n\n`;

const server = createServer({ keepAlive: true }, (req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    if (body.indexOf('"stream":true') < 0) {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': completion.length });
      res.end(completion);
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    res.write(event('Hello'));
    let sent = 1;
    const timer = setInterval(() => {
      if (res.destroyed) return clearInterval(timer);
      if (sent++ < EVENTS) return void res.write(event(' more'));
      clearInterval(timer);
      res.end(
        'data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1,"model":"bench-model","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":9,"total_tokens":21}}\n\ndata: [DONE]\n\n',
      );
    }, PACE_MS);
  });
});
server.keepAliveTimeout = 60_000;
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => process.send?.({ ready: true }));
