// Drives a whole batch through the official OpenAI JavaScript SDK (npm
// `openai`, tools/node_modules) against a running openai-emulator: upload,
// create, poll, list with pagination, download, cancel another batch, delete
// a file, SDK retries on 429/503 with retry hints, errors, a synchronous call.
//
// Environment (set by sdk_test.cc):
//   EMULATOR_BASE_URL  http://127.0.0.1:PORT
//   EMULATOR_API_KEY   the key the emulator accepts
//   OPENAI_SDK_DIR     the folder holding node_modules/openai (tools/)
//   SDK_WORK_DIR       scratch folder with doc.pdf (two pages) and transcript.schema.json
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(path.join(process.env.OPENAI_SDK_DIR, 'package.json'));
const OpenAI = require('openai');
const { NotFoundError, AuthenticationError, BadRequestError } = OpenAI;

const base = process.env.EMULATOR_BASE_URL;
const work = process.env.SDK_WORK_DIR;
const client = new OpenAI({ apiKey: process.env.EMULATOR_API_KEY, baseURL: `${base}/v1`, maxRetries: 3 });

async function control(method, route, body) {
  const res = await fetch(`${base}/_emulator/${route}`, {
    method,
    headers: { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  assert.equal(res.status, 200, `${method} /_emulator/${route}`);
  return res.json();
}

async function waitFor(id, statuses) {
  for (let i = 0; i < 3000; i++) {
    const batch = await client.batches.retrieve(id);
    if (statuses.includes(batch.status)) return batch;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`batch ${id} never reached ${statuses}`);
}

function requestLine(customId, pdf, schema) {
  return JSON.stringify({
    custom_id: customId,
    method: 'POST',
    url: '/v1/chat/completions',
    body: {
      model: 'gpt-4.1-mini',
      max_completion_tokens: 4000,
      messages: [
        { role: 'system', content: 'Transcribe the document.' },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Transcribe this PDF.' },
            { type: 'file', file: { filename: 'doc.pdf', file_data: `data:application/pdf;base64,${pdf.toString('base64')}` } },
          ],
        },
      ],
      response_format: { type: 'json_schema', json_schema: { name: 'transcript', strict: true, schema } },
    },
  });
}

const pdf = fs.readFileSync(path.join(work, 'doc.pdf'));
const schema = JSON.parse(fs.readFileSync(path.join(work, 'transcript.schema.json'), 'utf8'));
const jsonl = path.join(work, 'requests.jsonl');
fs.writeFileSync(jsonl, ['a', 'b', 'c'].map((id) => requestLine(`doc-${id}`, pdf, schema)).join('\n') + '\n');

// Upload.
const file = await client.files.create({ file: fs.createReadStream(jsonl), purpose: 'batch' });
assert.match(file.id, /^file-[A-Za-z0-9]{22}$/);
assert.equal(file.purpose, 'batch');
assert.equal(file.filename, 'requests.jsonl');
assert.equal(file.bytes, fs.statSync(jsonl).size);

// Create, poll, download.
const batch = await client.batches.create({
  input_file_id: file.id,
  endpoint: '/v1/chat/completions',
  completion_window: '24h',
  metadata: { batchscribe_batch: 'sdk', batchscribe_shard: 's0001' },
});
assert.equal(batch.status, 'validating');
const done = await waitFor(batch.id, ['completed', 'failed', 'expired', 'cancelled']);
assert.equal(done.status, 'completed', JSON.stringify(done));
assert.deepEqual(done.request_counts, { total: 3, completed: 3, failed: 0 });
assert.ok(done.usage.input_tokens > 0);
const content = await client.files.content(done.output_file_id);
const lines = (await content.text()).trim().split('\n').map((l) => JSON.parse(l));
assert.deepEqual(lines.map((l) => l.custom_id).sort(), ['doc-a', 'doc-b', 'doc-c']);
for (const line of lines) {
  assert.equal(line.response.status_code, 200);
  const transcript = JSON.parse(line.response.body.choices[0].message.content);
  assert.deepEqual(transcript.pages.map((p) => p.text), ['SDK page one', 'SDK page two']);
  assert.equal(transcript.title, 'SDK page one');
}

// Cancel another batch while it runs.
const victim = await client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
await waitFor(victim.id, ['in_progress']);
const cancelling = await client.batches.cancel(victim.id);
assert.equal(cancelling.status, 'cancelling');
const cancelled = await waitFor(victim.id, ['cancelled']);
assert.ok(cancelled.cancelled_at >= cancelled.cancelling_at);

// List with auto-pagination (two per page).
for (let i = 0; i < 3; i++) {
  await client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
}
const seen = [];
for await (const b of client.batches.list({ limit: 2 })) seen.push(b.id);
assert.equal(seen.length, 5);
assert.equal(new Set(seen).size, 5);
assert.ok(seen.includes(batch.id) && seen.includes(victim.id));
const firstPage = await client.batches.list({ limit: 2 });
assert.equal(firstPage.data.length, 2);
assert.ok(firstPage.hasNextPage());

const files = [];
for await (const f of client.files.list()) files.push(f.id);
assert.ok(files.includes(file.id) && files.includes(done.output_file_id));

// The SDK retries 429 and 503 using the emulator's retry hints, and succeeds.
await control('POST', 'faults', {
  http: [
    { match: '^GET /v1/batches/', status: 429, retry_after_ms: 10, count: 1 },
    { match: '^GET /v1/batches/', status: 503, retry_after_ms: 10, count: 1 },
  ],
});
const retried = await client.batches.retrieve(batch.id);
assert.equal(retried.id, batch.id);
const faults = await control('GET', 'faults');
assert.deepEqual(faults.http.map((r) => r.fired), [1, 1]);
// x-should-retry: false stops the SDK from retrying.
await control('POST', 'faults', { http: [{ match: '^GET /v1/files$', status: 503, should_retry: false, count: 1 }] });
await assert.rejects(() => client.files.list(), (e) => e.status === 503);
await control('DELETE', 'faults');

// Errors come back as the SDK's typed errors.
await assert.rejects(() => client.batches.retrieve('batch_00000000000000000000000000000000'), NotFoundError);
await assert.rejects(
  () => client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '48h' }),
  BadRequestError,
);
const stranger = new OpenAI({ apiKey: 'sk-not-the-key', baseURL: `${base}/v1`, maxRetries: 0 });
await assert.rejects(() => stranger.files.list(), AuthenticationError);

// Synchronous chat completion.
const chat = await client.chat.completions.create({
  model: 'gpt-4o-mini',
  messages: [{ role: 'user', content: 'Say hello' }],
});
assert.equal(chat.object, 'chat.completion');
assert.equal(chat.choices[0].finish_reason, 'stop');
assert.ok(chat.usage.total_tokens > 0);

// Delete.
const deleted = await (client.files.delete ?? client.files.del).call(client.files, file.id);
assert.deepEqual({ id: deleted.id, deleted: deleted.deleted }, { id: file.id, deleted: true });
await assert.rejects(() => client.files.retrieve(file.id), NotFoundError);

const stats = await control('GET', 'stats');
assert.equal(stats.batches.created, 5);
assert.equal(stats.files.deleted, 1);
assert.equal(stats.batches.by_metadata.batchscribe_shard.s0001.length, 1);
console.log('sdk: whole batch driven through the official OpenAI SDK');
