// SPDX-License-Identifier: Apache-2.0
// KafkaJS against a 3-broker spated cluster, driven by cluster_clients.py.
//   node cluster_clients.js NODE_MODULES BROKERS TOPIC produce
//   node cluster_clients.js NODE_MODULES BROKERS TOPIC consume GROUP
// Runs until its stdin closes, printing one JSON object a line:
//   produce: {"ack":[partition, baseOffset, [values...]]} per acknowledged send
//            (idempotent, acks=-1, values "js-<n>"), {"err":name,"retriable":bool,
//            "message":text} per send that failed after KafkaJS's own retries
//            (the same values are sent again).
//   consume: {"m":[partition, offset, value]} per record, {"crash":name,
//            "retriable":bool,"message":text} when the consumer crashes (KafkaJS
//            restarts it on retriable errors).
// "done" is printed last.
const path = require('path');
const readline = require('readline');
const { Kafka, logLevel } = require(path.join(process.argv[2], 'kafkajs'));

const [, , , brokers, topic, role, group] = process.argv;
const partitions = 3;
let stopping = false;
readline.createInterface({ input: process.stdin }).on('close', () => { stopping = true; });

function out(o) { process.stdout.write(`${JSON.stringify(o)}\n`); }

// A KafkaJS error's retriability: a retries-exceeded error wraps the last
// error of the request, which is what the broker or the connection said.
function describe(e) {
  const cause = e.originalError || e.cause || e;
  const retriable = e.retriable === true || cause.retriable === true;
  return { name: cause.name || e.name, retriable, message: String(cause.message || e.message) };
}

const kafka = new Kafka({
  brokers: brokers.split(','), logLevel: logLevel.NOTHING,
  retry: { retries: 30, initialRetryTime: 100, maxRetryTime: 1000 },
  requestTimeout: 5000, connectionTimeout: 2000,
});

// Connects as an application would: again after a retriable error (the
// broker it picked may be the one just killed), at most 30 times.
async function connect(client) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await client.connect();
    } catch (e) {
      const d = describe(e);
      out({ err: d.name, retriable: d.retriable, message: `connect: ${d.message}` });
      if (!d.retriable || attempt >= 30 || stopping) throw e;
      await new Promise((r) => setTimeout(r, 300));
    }
  }
}

async function produce() {
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await connect(producer);
  let n = 0;
  let pending = null;
  // Bounded by stdin closing (the driver's deadline) and 100,000 sends.
  for (let s = 0; !stopping && s < 100000; s++) {
    if (pending === null) {
      const partition = s % partitions;
      pending = { partition, values: [] };
      for (let i = 0; i < 5; i++) pending.values.push(`js-${n++}`);
    }
    try {
      const meta = await producer.send({
        topic, acks: -1,
        messages: pending.values.map((value) => ({ partition: pending.partition, value })),
      });
      out({ ack: [meta[0].partition, Number(meta[0].baseOffset), pending.values] });
      pending = null;
    } catch (e) {
      const d = describe(e);
      out({ err: d.name, retriable: d.retriable, message: d.message });
      await new Promise((r) => setTimeout(r, 200));
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  await producer.disconnect();
}

async function consume() {
  const consumer = kafka.consumer({ groupId: group, sessionTimeout: 10000, heartbeatInterval: 500,
                                    rebalanceTimeout: 10000,
                                    retry: { retries: 30, initialRetryTime: 100, maxRetryTime: 1000 } });
  consumer.on(consumer.events.CRASH, (e) => {
    const d = describe(e.payload.error);
    out({ crash: d.name, retriable: d.retriable, message: d.message, restart: e.payload.restart });
  });
  await connect(consumer);
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ partition, message }) => {
      out({ m: [partition, Number(message.offset), message.value.toString()] });
    },
  });
  // Bounded by stdin closing (the driver's deadline) and 20 minutes.
  for (let i = 0; !stopping && i < 12000; i++) await new Promise((r) => setTimeout(r, 100));
  await consumer.disconnect();
}

(role === 'produce' ? produce() : consume())
  .then(() => { out('done'); process.exit(0); })
  .catch((e) => {
    const d = describe(e);
    out({ fatal: d.name, retriable: d.retriable, message: d.message });
    process.exit(1);
  });
