// SPDX-License-Identifier: Apache-2.0
// KafkaJS idempotent producer through the cutting proxy, driven by
// compat_idempotence.py.
//   node compat_idempotence.js NODE_MODULES HOST:PORT TOPIC SENDS PER_SEND
// Sends SENDS batches of PER_SEND records (values "js-<n>") round-robin over
// the topic's partitions with idempotent: true, retrying on every error the
// client reports as retriable; prints the values sent per partition (JSON).
const path = require('path');
const { Kafka, logLevel } = require(path.join(process.argv[2], 'kafkajs'));

async function main() {
  const [, , , broker, topic, sendsArg, perSendArg] = process.argv;
  const sends = Number(sendsArg);
  const perSend = Number(perSendArg);
  const kafka = new Kafka({ brokers: [broker], logLevel: logLevel.NOTHING,
                            retry: { retries: 20, initialRetryTime: 50, maxRetryTime: 1000 },
                            requestTimeout: 5000, connectionTimeout: 3000 });
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const sent = {};
  let n = 0;
  for (let s = 0; s < sends; s++) {
    const partition = s % 3;
    const messages = [];
    for (let i = 0; i < perSend; i++) messages.push({ partition, value: `js-${n++}` });
    await producer.send({ topic, acks: -1, messages });
    (sent[partition] = sent[partition] || []).push(...messages.map((m) => m.value));
  }
  await producer.disconnect();
  console.log(JSON.stringify(sent));
}

main().catch((e) => { console.error('compat idempotence kafkajs: FAILED', e); process.exit(1); });
