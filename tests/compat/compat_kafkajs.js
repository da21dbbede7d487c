// SPDX-License-Identifier: Apache-2.0
// KafkaJS against a running spated, driven by compat_kafkajs.py.
//   node compat_kafkajs.js NODE_MODULES HOST:PORT produce  -> prints the records sent (JSON)
//   node compat_kafkajs.js NODE_MODULES HOST:PORT delete
// produce: admin createTopics + fetchTopicMetadata, a producer with acks=-1
// (plain and gzip), fetchTopicOffsets checked against what was sent.
// delete: admin deleteTopics + listTopics.
const path = require('path');
const assert = require('assert');
const { Kafka, logLevel, CompressionTypes } = require(path.join(process.argv[2], 'kafkajs'));

const topic = 'kafkajs-compat';

async function produce(kafka) {
  const admin = kafka.admin();
  await admin.connect();
  assert.strictEqual(await admin.createTopics({ topics: [{ topic, numPartitions: 2 }] }), true);
  const md = await admin.fetchTopicMetadata({ topics: [topic] });
  assert.strictEqual(md.topics[0].partitions.length, 2);
  const producer = kafka.producer();
  await producer.connect();
  const sent = [];
  const now = Date.now();
  for (const [round, compression] of [[0, CompressionTypes.None], [1, CompressionTypes.GZIP]]) {
    const messages = [];
    for (let i = 0; i < 50; i++) {
      const m = { key: `k${round}-${i}`, value: `value ${round} ${i}`, partition: i % 2,
                  headers: { n: `${i}` }, timestamp: `${now + round * 100 + i}` };
      messages.push(m);
      sent.push(m);
    }
    const result = await producer.send({ topic, acks: -1, compression, messages });
    for (const r of result) assert.strictEqual(r.errorCode, 0);
  }
  await producer.disconnect();
  const offsets = await admin.fetchTopicOffsets(topic);
  assert.strictEqual(offsets.length, 2);
  for (const o of offsets) {
    assert.strictEqual(o.low, '0');
    assert.strictEqual(o.high, `${sent.filter((m) => m.partition === o.partition).length}`);
  }
  await admin.disconnect();
  console.log(JSON.stringify(sent));
}

async function remove(kafka) {
  const admin = kafka.admin();
  await admin.connect();
  await admin.deleteTopics({ topics: [topic] });
  assert.ok(!(await admin.listTopics()).includes(topic));
  await admin.disconnect();
}

const kafka = new Kafka({ brokers: [process.argv[3]], logLevel: logLevel.NOTHING });
(process.argv[4] === 'delete' ? remove(kafka) : produce(kafka))
  .catch((e) => { console.error('compat kafkajs: FAILED', e); process.exit(1); });
