/**
 * The LLM path against a local server speaking OpenAI's chat-completions streaming protocol (SSE chunks with
 * content and tool_calls deltas), driven through the real `openai` client.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { conversation, spoken } from './testing.js';
import type { DialogAction } from './types.js';

type Handler = (res: ServerResponse, body: any) => void | Promise<void>;

interface FakeOpenAi {
  baseURL: string;
  requests: any[];
  script: Handler[];
  close(): Promise<void>;
}

async function startFakeOpenAi(): Promise<FakeOpenAi> {
  const requests: any[] = [];
  const script: Handler[] = [];
  const server: Server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    if (req.method !== 'POST' || req.url !== '/v1/chat/completions') {
      res.writeHead(404).end();
      return;
    }
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    requests.push(body);
    const handler = script.shift();
    if (!handler) {
      res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: 'no script' } }));
      return;
    }
    await handler(res, body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseURL: `http://127.0.0.1:${port}/v1`,
    requests,
    script,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

function sse(res: ServerResponse): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
}

function chunk(delta: Record<string, unknown>, finishReason: string | null = null): string {
  return `data: ${JSON.stringify({
    id: 'chatcmpl-test', object: 'chat.completion.chunk', created: 1_700_000_000, model: 'test-model',
    choices: [{ index: 0, delta, finish_reason: finishReason }],
  })}\n\n`;
}

/** A streamed reply: text pieces, then tool calls whose JSON arguments arrive split over several deltas. */
function reply(texts: string[], tools: Array<{ name: string; args: string }> = []): Handler {
  return (res) => {
    sse(res);
    res.write(chunk({ role: 'assistant', content: '' }));
    for (const text of texts) res.write(chunk({ content: text }));
    tools.forEach((tool, index) => {
      res.write(chunk({ tool_calls: [{ index, id: `call_${index}`, type: 'function', function: { name: tool.name, arguments: '' } }] }));
      const half = Math.floor(tool.args.length / 2);
      res.write(chunk({ tool_calls: [{ index, function: { arguments: tool.args.slice(0, half) } }] }));
      res.write(chunk({ tool_calls: [{ index, function: { arguments: tool.args.slice(half) } }] }));
    });
    res.write(chunk({}, tools.length ? 'tool_calls' : 'stop'));
    res.end('data: [DONE]\n\n');
  };
}

const JANE = '+15555550101';
const llm = suite('LLM assist over the OpenAI streaming protocol');
let fake: FakeOpenAi;

llm.before.each(async () => {
  fake = await startFakeOpenAi();
});
llm.after.each(async () => {
  await fake.close();
});

function llmConversation(extra: { firstOutputTimeoutMs?: number } = {}) {
  return conversation({
    callerNumber: JANE,
    policy: { llm: { baseURL: fake.baseURL, apiKey: 'test-key', model: 'test-model', firstOutputTimeoutMs: extra.firstOutputTimeoutMs ?? 3_000 } },
  });
}

llm('what the rules miss goes to the model; its tool calls drive the rule machine (identification first)', async () => {
  const c = llmConversation();
  await c.start();
  fake.script.push(reply(['I am sorry she is not feeling well. '], [
    { name: 'set_booking_details', args: JSON.stringify({ appointment_type: 'sick', provider: 'nguyen', when: 'tomorrow morning' }) },
  ]));
  let turn = spoken(await c.say('my daughter has had a fever since tuesday and i would like her seen'));
  assert.is(fake.requests.length, 1);
  const request = fake.requests[0];
  assert.is(request.model, 'test-model');
  assert.is(request.stream, true);
  assert.ok(request.tools.some((t: any) => t.function.name === 'set_booking_details'));
  assert.ok(!request.tools.some((t: any) => /book_appointment|cancel_appointment/.test(t.function.name)), 'the model has no tool that books or cancels');
  assert.match(request.messages[0].content, 'Maple Street Family Clinic');
  assert.is(request.messages[request.messages.length - 1].content, 'my daughter has had a fever since tuesday and i would like her seen');
  assert.match(turn, 'I am sorry she is not feeling well. To confirm it is you, please tell me your date of birth.');
  turn = spoken(await c.say('march third nineteen eighty one'));
  assert.is(fake.requests.length, 1, 'the date of birth is read by the rules');
  assert.match(turn, 'I have 3 openings with Doctor Sam Nguyen: first, tomorrow at');
  assert.equal(c.emr.allAppointments().length, 3, 'nothing booked yet');
});

llm('replies stream sentence by sentence; the model\'s own question is the next prompt', async () => {
  const c = llmConversation();
  await c.start();
  let release!: () => void;
  const held = new Promise<void>((resolve) => { release = resolve; });
  fake.script.push(async (res) => {
    sse(res);
    res.write(chunk({ content: 'We accept most major plans, ' }));
    res.write(chunk({ content: 'including Blue Cross. Would' }));
    await held;
    res.write(chunk({ content: ' you like to book a visit?' }));
    res.write(chunk({}, 'stop'));
    res.end('data: [DONE]\n\n');
  });
  const seen: DialogAction[] = [];
  const signal = new AbortController().signal;
  for await (const action of c.session.respond({ type: 'utterance', text: 'do you take blue cross insurance' }, signal)) {
    seen.push(action);
    if (seen.length === 1) {
      assert.equal(action, { type: 'say', text: 'We accept most major plans, including Blue Cross.', cacheable: false },
        'the first sentence is spoken while the model is still writing');
      release();
    }
  }
  assert.equal(seen.map((a) => (a as { text: string }).text), ['We accept most major plans, including Blue Cross.', 'Would you like to book a visit?']);
  // "yes please" means nothing to the rules at the main menu; the model sees its own question in the history.
  fake.script.push(reply([], [{ name: 'start_task', args: '{"task":"book"}' }]));
  const turn = spoken(await c.say('yes please'));
  const second = fake.requests[1];
  assert.ok(second.messages.some((m: any) => m.role === 'assistant' && /Would you like to book a visit/.test(m.content)));
  assert.match(turn, 'date of birth');
  assert.is(spoken(await c.say('say that again')), 'To confirm it is you, please tell me your date of birth.');
});

llm('the model can pick an offer but never book: the confirmation and the yes stay with the rules', async () => {
  const c = llmConversation();
  await c.start();
  await c.say('book a checkup with doctor patel on friday');
  await c.say('march third nineteen eighty one');
  const before = fake.requests.length;
  fake.script.push(reply(['Sure.'], [{ name: 'choose_offer', args: '{"number":2}' }]));
  let turn = spoken(await c.say('hmm let me think the one that is not too early'));
  assert.is(fake.requests.length, before + 1);
  assert.match(fake.requests[before].messages[0].content, 'Openings offered, in order: 1) Friday, November 27th at 9 AM');
  assert.match(turn, 'To confirm: a check-up with Doctor Priya Patel on Friday, November 27th at 10 AM. Shall I book it?');
  assert.is(c.emr.callCount('book'), 0);
  // Inside the confirmation the model is not consulted at all.
  turn = spoken(await c.say('whatever you think is best really'));
  assert.is(fake.requests.length, before + 1);
  assert.match(turn, 'Sorry, I did not get that');
  assert.is(c.emr.callCount('book'), 0);
  turn = spoken(await c.say('yes'));
  assert.match(turn, 'You are all set');
  assert.is(c.emr.callCount('book'), 1);
});

llm('emergencies and navigation never reach the model', async () => {
  const c = llmConversation();
  await c.start();
  const turn = spoken(await c.say('my wife has chest pain'));
  assert.match(turn, '9 1 1');
  const c2 = llmConversation();
  await c2.start();
  const transfer = await c2.say('operator');
  assert.equal(transfer.filter((a) => a.type === 'transfer').length, 1);
  assert.is(fake.requests.length, 0);
});

llm('time box: a model that says nothing in time is dropped and the rules answer', async () => {
  const c = llmConversation({ firstOutputTimeoutMs: 300 });
  await c.start();
  fake.script.push((res) => {
    sse(res); // ...and nothing more: the connection is closed by the test teardown.
  });
  const turn = spoken(await c.say('purple monkey dishwasher'));
  assert.is(fake.requests.length, 1);
  assert.match(turn, 'One moment.');
  assert.match(turn, 'Sorry, I did not get that. What can I help you with?');
});

llm('server errors and malformed tool calls fall back to the rules', async () => {
  const c = llmConversation();
  await c.start();
  fake.script.push((res) => {
    res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: 'boom' } }));
  });
  let turn = spoken(await c.say('purple monkey dishwasher'));
  assert.match(turn, 'Sorry, I did not get that');
  fake.script.push(reply([], [{ name: 'choose_offer', args: '{"number": "lots' }, { name: 'format_disk', args: '{}' }]));
  turn = spoken(await c.say('green giraffe teapot'));
  assert.match(turn, 'To book an appointment, press 1', 'the second failure escalates to the keypad menu');
  assert.is(fake.requests.length, 2);
});

llm.run();
