// SPDX-License-Identifier: Apache-2.0
// KafkaJS consumer groups against a running spated, driven by compat_groups.py.
//   node compat_groups.js NODE_MODULES HOST:PORT
// KafkaJS implements JoinGroup v0-v2 only. Two consumers in one group on a
// 4-partition topic: both join and split the partitions (disjoint, 2 each,
// union = all); then 40 records are produced and each is consumed exactly
// once, by the consumer owning its partition; after disconnect the group's
// committed offsets (admin.fetchOffsets) equal the high watermarks.
const path = require('path');
const assert = require('assert');
const { Kafka, logLevel } = require(path.join(process.argv[2], 'kafkajs'));

const topic = 'g-kafkajs';
const groupId = 'g-kafkajs-group';
const partitions = 4;
const records = 40;

function until(predicate, ms, what) {
  const deadline = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const check = () => {
      if (predicate()) return resolve();
      if (Date.now() > deadline) return reject(new Error(`timed out waiting for ${what}`));
      setTimeout(check, 50);
    };
    check();
  });
}

function startConsumer(kafka, seen) {
  const consumer = kafka.consumer({ groupId, sessionTimeout: 6000, heartbeatInterval: 300,
                                    rebalanceTimeout: 6000 });
  const state = { consumer, owned: [], got: [] };
  consumer.on(consumer.events.GROUP_JOIN, (e) => {
    state.owned = e.payload.memberAssignment[topic] || [];
  });
  return consumer.connect()
    .then(() => consumer.subscribe({ topics: [topic], fromBeginning: true }))
    .then(() => consumer.run({
      eachMessage: async ({ partition, message }) => {
        const v = message.value.toString();
        state.got.push({ partition, v });
        seen.push(v);
      },
    }))
    .then(() => state);
}

function split(states) {
  const all = states.flatMap((s) => s.owned).sort();
  return states.every((s) => s.owned.length === partitions / states.length) &&
    JSON.stringify(all) === JSON.stringify([...Array(partitions).keys()]);
}

async function main() {
  const kafka = new Kafka({ brokers: [process.argv[3]], logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  assert.strictEqual(await admin.createTopics({ topics: [{ topic, numPartitions: partitions }] }),
                     true);
  const seen = [];
  const states = [await startConsumer(kafka, seen), await startConsumer(kafka, seen)];
  await until(() => split(states), 30000, 'the two consumers to split the partitions');
  const producer = kafka.producer();
  await producer.connect();
  const sent = [];
  for (let i = 0; i < records; i++) sent.push({ value: `j${i}`, partition: i % partitions });
  await producer.send({ topic, acks: -1, messages: sent });
  await producer.disconnect();
  await until(() => seen.length >= records, 20000, 'every record consumed');
  await new Promise((r) => setTimeout(r, 500)); // a duplicate would show now
  assert.deepStrictEqual([...seen].sort(), sent.map((m) => m.value).sort());
  for (const s of states) {
    for (const r of s.got) assert.ok(s.owned.includes(r.partition), 'read outside its assignment');
  }
  const owned = states.map((s) => s.owned);
  for (const s of states) await s.consumer.disconnect(); // commits, then LeaveGroup
  const [fetched] = await admin.fetchOffsets({ groupId, topics: [topic] });
  const committed = fetched.partitions.map((p) => [p.partition, p.offset]).sort();
  const want = [...Array(partitions).keys()].map((p) => [p, `${records / partitions}`]);
  assert.deepStrictEqual(committed, want);
  const described = await admin.describeGroups([groupId]);
  assert.strictEqual(described.groups[0].state, 'Empty');
  await admin.disconnect();
  console.log(JSON.stringify({ owned, records: seen.length }));
}

main().catch((e) => { console.error('compat groups kafkajs: FAILED', e); process.exit(1); });
