#!/usr/bin/env node
// The Box Node SDK peer of tools/bench (issue 8): reads an event stream of a
// simulated Box with Box's official generated Node SDK (box-node-sdk, pinned in
// package.json) until it has seen --events distinct event ids, then prints one
// JSON line and exits. It writes nothing per event: it only counts.
//
//   node bench.js --base-url http://127.0.0.1:PORT --token DEVTOKEN \
//     --stream admin_logs_streaming --events 1000000 [--mode stream|pages] \
//     [--limit 500] [--position 0] [--wait-stdin]
//
// Modes:
//   stream  client.events.getEventStream({streamType, limit, streamPosition}):
//           the SDK's EventStream, which fetches one page, then asks OPTIONS
//           /2.0/events for a realtime server and long-polls it before the next
//           page (it does so for enterprise streams too).
//   pages   client.events.getEvents({streamType, limit, streamPosition}) in a
//           loop, following next_stream_position: what the SDK offers for an
//           enterprise stream without the long poll.
// Both deduplicate by event_id in a Set (the SDK's own stream also drops
// repeats it still remembers, with a window of 1000 ids).
//
// Output (stdout, one line): {"count":N,"cpu_user_us":..,"cpu_system_us":..,
// "reading_cpu_us":..,"elapsed_ms":..,"pages":..,"errors":..,"max_rss_bytes":..}:
// cpu_* is the whole process's process.cpuUsage(); reading_cpu_us and elapsed_ms
// count from the first line of main(), after Node and the SDK were loaded.
// With --wait-stdin it then waits for stdin to close before exiting, so that the
// harness can read /proc/<pid> of a live process, as it does for the other peers.
'use strict';

const { BoxClient, BoxDeveloperTokenAuth } = require('box-node-sdk');
const { NetworkSession } = require('box-node-sdk/lib/networking/network');
const { BaseUrls } = require('box-node-sdk/lib/networking/baseUrls');

function parseArgs(argv) {
  const opts = {
    baseUrl: '',
    token: '',
    stream: 'admin_logs_streaming',
    events: 0,
    mode: 'stream',
    limit: 500,
    position: '0',
    waitStdin: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    switch (a) {
      case '--base-url': opts.baseUrl = next(); break;
      case '--token': opts.token = next(); break;
      case '--stream': opts.stream = next(); break;
      case '--events': opts.events = Number(next()); break;
      case '--mode': opts.mode = next(); break;
      case '--limit': opts.limit = Number(next()); break;
      case '--position': opts.position = next(); break;
      case '--wait-stdin': opts.waitStdin = true; break;
      default: throw new Error(`unknown argument ${a}`);
    }
  }
  if (!opts.baseUrl || !opts.token) throw new Error('--base-url and --token are required');
  if (!Number.isInteger(opts.events) || opts.events <= 0) throw new Error('--events must be a positive integer');
  if (opts.mode !== 'stream' && opts.mode !== 'pages') throw new Error(`--mode must be stream or pages, not ${opts.mode}`);
  return opts;
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  const started = process.hrtime.bigint();
  const startCPU = process.cpuUsage(); // what loading Node and the SDK cost
  const auth = new BoxDeveloperTokenAuth({ token: opts.token });
  const session = new NetworkSession({ baseUrls: new BaseUrls({ baseUrl: opts.baseUrl }) });
  const client = new BoxClient({ auth, networkSession: session });

  const seen = new Set();
  let pages = 0;
  let errors = 0;
  let finished = false;

  const finish = (stop) => {
    if (finished) return;
    finished = true;
    stop();
    const cpu = process.cpuUsage();
    const reading = process.cpuUsage(startCPU);
    const line = {
      count: seen.size,
      cpu_user_us: cpu.user,
      cpu_system_us: cpu.system,
      reading_cpu_us: reading.user + reading.system,
      elapsed_ms: Number(process.hrtime.bigint() - started) / 1e6,
      pages,
      errors,
      max_rss_bytes: process.resourceUsage().maxRSS * 1024,
    };
    process.stdout.write(JSON.stringify(line) + '\n', () => {
      if (!opts.waitStdin) process.exit(0);
      process.stdin.on('data', () => {});
      process.stdin.on('end', () => process.exit(0));
      process.stdin.on('error', () => process.exit(0));
      process.stdin.resume();
    });
  };
  const add = (entry) => {
    if (entry.eventId !== undefined) seen.add(entry.eventId);
  };
  const reportError = (err) => {
    errors++;
    // One line per failure; the SDK retries on its own.
    process.stderr.write(`E! box-node-sdk: ${err && err.message ? err.message : err}\n`);
  };

  if (opts.mode === 'stream') {
    const stream = client.events.getEventStream({
      streamType: opts.stream,
      limit: opts.limit,
      streamPosition: opts.position,
    });
    stream.on('data', (entry) => {
      add(entry);
      if (seen.size >= opts.events) finish(() => stream.destroy());
    });
    stream.on('error', reportError);
    return;
  }

  // pages: follow next_stream_position with getEvents until N distinct ids.
  let position = opts.position;
  const loop = async () => {
    while (!finished) {
      let page;
      try {
        page = await client.events.getEvents({
          streamType: opts.stream,
          limit: opts.limit,
          streamPosition: position,
        });
      } catch (err) {
        reportError(err);
        await new Promise((r) => setTimeout(r, 1000));
        continue;
      }
      pages++;
      for (const entry of page.entries || []) add(entry);
      if (seen.size >= opts.events) {
        finish(() => {});
        return;
      }
      const next = page.nextStreamPosition === undefined ? '' : String(page.nextStreamPosition);
      if ((page.entries || []).length === 0 && next === position) {
        // Caught up with fewer distinct events than expected: poll again shortly.
        await new Promise((r) => setTimeout(r, 200));
      }
      if (next) position = next;
    }
  };
  loop().catch((err) => {
    process.stderr.write(`E! ${err && err.stack ? err.stack : err}\n`);
    process.exit(1);
  });
}

try {
  main();
} catch (err) {
  process.stderr.write(`E! ${err && err.message ? err.message : err}\n`);
  process.exit(2);
}
