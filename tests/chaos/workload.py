# SPDX-License-Identifier: Apache-2.0
"""The chaos test's clients, each on its own thread with its own journal:
idempotent producers (confluent-kafka, acks=all) writing unique values and
journaling every acknowledgement (value -> partition, offset), and
consumers journaling every (partition, offset, value) they poll.

CONSUMER_KINDS is the consumer-kind table: "assign" consumers (assign() to
every partition) and "subscribe" consumers (members of one group, committing
their offsets), each with a `generation` bumped at every re-assignment or
rebalance, so that the monotonicity check restarts where Kafka allows it."""
import logging
import random
import threading
import time

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition


def quiet(conf):
    return dict(conf, log_level=0)


class ProducerWorker:
    """Unique values "<tag>-p<idx>-<seq>", partitions round robin, at `rate`
    records per second, in flight at most MAX_QUEUED."""

    MAX_QUEUED = 4000

    def __init__(self, idx, bootstrap, topic, partitions, rate, tag, log_path=None):
        self.idx = idx
        self.log_path = log_path
        self.bootstrap = bootstrap
        self.topic = topic
        self.partitions = partitions
        self.rate = rate
        self.tag = tag
        self.acked = {}     # value -> (partition, offset, monotonic time)
        self.failed = {}    # value -> error text (indeterminate: may or may not be stored)
        self.sent = 0
        self.fatal = []     # fatal producer errors (idempotence broken)
        self.unresolved = 0
        self.refused = 0    # produce() calls refused locally (not sent)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True, name=f"producer-{idx}")

    def _on_delivery(self, err, msg):
        value = msg.value().decode()
        if err is not None:
            self.failed[value] = str(err)
            if err.fatal():
                self.fatal.append(str(err))
            return
        self.acked[value] = (msg.partition(), msg.offset(), time.monotonic())

    def _make(self):
        conf = quiet({
            "bootstrap.servers": self.bootstrap, "enable.idempotence": True, "acks": "all",
            "message.timeout.ms": 60000, "request.timeout.ms": 5000, "linger.ms": 5,
            "retry.backoff.ms": 100, "reconnect.backoff.max.ms": 500,
            "topic.metadata.refresh.interval.ms": 1000})
        if self.log_path:
            # librdkafka's idempotence events (producer id, epoch bumps and
            # why, sequence errors), each batch's answer (msg: the error code
            # and whether librdkafka takes it as persisted) and the leaders
            # and partition counts it learns (metadata) to a file, to explain
            # a duplicate or a fatal error.
            log = logging.getLogger(f"chaos-producer-{self.idx}")
            if not log.handlers:
                handler = logging.FileHandler(self.log_path)
                handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
                log.addHandler(handler)
                log.setLevel(logging.DEBUG)
                log.propagate = False
            conf.update({"debug": "eos,msg,metadata", "log_level": 7, "logger": log})
        return Producer(conf)

    def _replace(self, producer, error):
        """Fenced for good: journaled; a new producer takes over (what the old
        one held is reported failed by its purge)."""
        self.fatal.append(str(error))
        try:
            producer.purge()
            producer.poll(0)
        except KafkaException:
            pass
        return self._make()

    def _run(self):
        producer = self._make()
        period = 1.0 / self.rate
        next_at = time.monotonic()
        # Bounded: until stop() (the driver's deadline), then flush (bounded).
        while not self.stop.is_set():
            value = f"{self.tag}-p{self.idx}-{self.sent}"
            try:
                if len(producer) >= self.MAX_QUEUED or time.monotonic() < next_at:
                    producer.poll(0.01)  # raises a fatal error too
                    continue
                producer.produce(self.topic, value=value.encode(),
                                 partition=self.sent % self.partitions, on_delivery=self._on_delivery)
            except BufferError:
                producer.poll(0.05)
                continue
            except KafkaException as e:
                if e.args and e.args[0].fatal():
                    producer = self._replace(producer, e)
                else:
                    # Refused before it was queued (e.g. the topic unknown while
                    # every broker is down): not sent; tried again.
                    self.refused += 1
                    producer.poll(0.05)
                continue
            self.sent += 1
            next_at += period
            if next_at < time.monotonic() - 1:
                next_at = time.monotonic()  # after a stall, no burst
            try:
                producer.poll(0)
            except KafkaException as e:
                if e.args and e.args[0].fatal():
                    producer = self._replace(producer, e)
        try:
            self.unresolved = producer.flush(90)
        except KafkaException as e:
            self.fatal.append(str(e))
            self.unresolved = len(producer)

    def start(self):
        self.thread.start()

    def finish(self):
        self.stop.set()
        self.thread.join(120)


class _Kept(logging.Handler):
    """Keeps the client log lines holding one of `words` (at most 100)."""

    def __init__(self, out, words):
        super().__init__()
        self.out, self.words = out, words

    def emit(self, record):
        text = record.getMessage()
        if len(self.out) < 100 and any(w in text.lower() for w in self.words):
            self.out.append((time.monotonic(), text))


def _client_warnings(idx):
    """([(monotonic time, line)], a logger for the client): the client's own
    warnings about its position (an offset reset, a truncation it detected),
    for the report: why a consumer went back."""
    kept = []
    logger = logging.getLogger(f"chaos-consumer-{idx}")
    logger.propagate = False
    logger.addHandler(_Kept(kept, ("reset", "truncat")))
    return kept, logger


class _Consumer:
    """What both consumer kinds hold: what they polled (a generation is a
    span in which offsets may not go back), the non-retriable errors, the
    client's position warnings, and the thread that runs _run until finish()."""

    def __init__(self, idx, bootstrap, topic, partitions, rng):
        self.idx = idx
        self.bootstrap = bootstrap
        self.topic = topic
        self.partitions = partitions
        self.rng = random.Random(rng.random())
        self.polls = []   # (generation, partition, offset, value, monotonic time)
        self.errors = []  # non-retriable (consume) errors seen
        self.generation = 0
        self.starts = {0: {}}  # generation -> {partition: offset it may start at}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True, name=f"consumer-{idx}")
        self.client_log, self.logger = _client_warnings(idx)

    def _run(self):
        raise NotImplementedError

    def start(self):
        self.thread.start()

    def finish(self):
        self.stop.set()
        self.thread.join(30)


class AssignConsumer(_Consumer):
    """assign() to every partition from offset 0; now and then re-assigns each
    partition at a random offset it has already read past (a new
    `generation`: offsets may go back there, nowhere else)."""

    kind = "assign"
    REASSIGN_EVERY = (10.0, 25.0)  # seconds, drawn uniformly

    def _assign(self, consumer, starts):
        consumer.assign([TopicPartition(self.topic, p, starts.get(p, 0))
                         for p in range(self.partitions)])

    def _run(self):
        consumer = Consumer({
            "bootstrap.servers": self.bootstrap, "group.id": f"chaos-assign-{self.idx}",
            "enable.auto.commit": False, "auto.offset.reset": "earliest",
            "enable.partition.eof": False, "fetch.wait.max.ms": 100,
            "topic.metadata.refresh.interval.ms": 1000, "reconnect.backoff.max.ms": 500,
            "log_level": 4, "logger": self.logger})
        last = {}
        self._assign(consumer, {})
        reassign_at = time.monotonic() + self.rng.uniform(*self.REASSIGN_EVERY)
        try:
            # Bounded: until stop().
            while not self.stop.is_set():
                for m in consumer.consume(500, 0.2):
                    if m.error() is not None:
                        if not m.error().retriable() and m.error().code() >= 0:
                            self.errors.append(str(m.error()))
                        continue
                    self.polls.append((self.generation, m.partition(), m.offset(),
                                       m.value().decode(), time.monotonic()))
                    last[m.partition()] = m.offset()
                if time.monotonic() >= reassign_at:
                    self.generation += 1
                    starts = {p: self.rng.randint(0, o) for p, o in last.items()}
                    self.starts[self.generation] = starts
                    consumer.unassign()
                    self._assign(consumer, starts)
                    reassign_at = time.monotonic() + self.rng.uniform(*self.REASSIGN_EVERY)
        finally:
            consumer.close()


class GroupJournal:
    """The commits the members of one group had acknowledged, each with the
    time its answer came: [(monotonic time, member, partition, offset,
    the member's generation, the monotonic time it was sent)]."""

    def __init__(self):
        self.lock = threading.Lock()
        self.commits = []

    def add(self, member, offsets, generation, sent):
        now = time.monotonic()
        with self.lock:
            self.commits += [(now, member, tp.partition, tp.offset, generation, sent)
                             for tp in offsets]

    def floor(self, before):
        """{partition: the highest offset acknowledged as committed before `before`}."""
        out = {}
        with self.lock:
            for t, _, p, o, *_ in self.commits:
                if t < before and o > out.get(p, -1):
                    out[p] = o
        return out


# group id -> its journal, shared by the members of the group in this process.
GROUP_JOURNALS = {}

# Commit answers taken as "not now, ask again" (the coordinator moving or
# loading, a timeout whose commit may or may not be stored: committing the
# same offsets again is harmless). Anything else (a rebalance under way, a
# fenced generation) ends the attempt: the offsets are not journaled.
RETRIABLE_COMMIT = {KafkaError.NOT_COORDINATOR, KafkaError.COORDINATOR_NOT_AVAILABLE,
                    KafkaError.COORDINATOR_LOAD_IN_PROGRESS, KafkaError.REQUEST_TIMED_OUT,
                    KafkaError._TIMED_OUT, KafkaError._TRANSPORT, KafkaError._WAIT_COORD}


class SubscribeConsumer(_Consumer):
    """A member of the group GROUP (subscribe(), the classic protocol, eager
    rebalances): commits the offsets after what it polled, synchronously,
    every COMMIT_EVERY seconds and when partitions are revoked, retrying
    retriable answers for up to COMMIT_RETRY seconds; journals every commit
    acknowledged (GroupJournal). Now and then it leaves the group (commit,
    close) and joins again with a new consumer, so the other members
    rebalance. Every on_assign/on_revoke/on_lost is a new `generation`; a
    generation's start for a partition is the highest offset the group had
    acknowledged committing before on_assign (where it may start, no lower)."""

    kind = "subscribe"
    GROUP = "chaos-group"
    COMMIT_EVERY = (1.0, 4.0)
    COMMIT_RETRY = 5.0
    COMMIT_LATE = 10.0  # seconds: a commit answered later is not journaled (_commit)
    REJOIN_EVERY = (15.0, 35.0)

    def __init__(self, idx, bootstrap, topic, partitions, rng):
        super().__init__(idx, bootstrap, topic, partitions, rng)
        self.group = self.GROUP
        self.journal = GROUP_JOURNALS.setdefault(self.group, GroupJournal())
        self.commit_errors = []  # (monotonic time, text): commits given up (not journaled)
        self.commits = 0  # commits acknowledged (partitions)
        self.late_commits = []  # (sent, answered, [(partition, offset)] or error): see _commit
        self.joins = 0
        # (monotonic time, generation, "assign"/"revoke"/"lost"/"closed"/"joined",
        # the partitions held from then on)
        self.history = []
        self.assigned = set()
        self.last = {}    # partition -> last offset polled in this generation

    def _bump(self, starts, event):
        self.generation += 1
        self.starts[self.generation] = starts
        self.last = {}
        self.history.append((time.monotonic(), self.generation, event, sorted(self.assigned)))

    def _on_assign(self, consumer, partitions):
        floor = self.journal.floor(time.monotonic())
        self.assigned = {tp.partition for tp in partitions}
        self._bump({p: floor.get(p, 0) for p in self.assigned}, "assign")

    def _on_revoke(self, consumer, partitions):
        self._commit(consumer)
        self.assigned = set()
        self._bump({}, "revoke")

    def _on_lost(self, consumer, partitions):
        self.assigned = set()  # already someone else's: nothing to commit
        self._bump({}, "lost")

    def _commit(self, consumer):
        offsets = [TopicPartition(self.topic, p, o + 1) for p, o in sorted(self.last.items())
                   if p in self.assigned]
        deadline = time.monotonic() + self.COMMIT_RETRY
        while offsets:
            sent = time.monotonic()
            try:
                result = consumer.commit(offsets=offsets, asynchronous=False)
            except KafkaException as e:
                err = e.args[0]
                if time.monotonic() - sent > self.COMMIT_LATE:
                    self.late_commits.append((sent, time.monotonic(), str(err)))
                    self.last = {}  # see below
                    return
                if err.code() in RETRIABLE_COMMIT and time.monotonic() < deadline:
                    time.sleep(0.2)
                    continue
                self.commit_errors.append((time.monotonic(), str(err)))
                return
            done = [tp for tp in result if tp.error is None]
            if time.monotonic() - sent > self.COMMIT_LATE:
                # A synchronous commit has no timeout: this one waited past
                # the poll interval, so the member may have been dropped
                # from the group meanwhile and librdkafka sent it outside any
                # generation (-1, which an empty group takes, as Kafka's).
                # Not a commit of a member that held the partitions: not
                # journaled, and what it held is stale.
                self.late_commits.append((sent, time.monotonic(), [(tp.partition, tp.offset)
                                                                  for tp in done]))
                self.last = {}
                return
            self.journal.add(self.idx, done, self.generation, sent)
            self.commits += len(done)
            offsets = [TopicPartition(tp.topic, tp.partition, tp.offset) for tp in result
                       if tp.error is not None]
            if offsets and (any(tp.error.code() not in RETRIABLE_COMMIT for tp in result
                                if tp.error is not None) or time.monotonic() >= deadline):
                self.commit_errors.append((time.monotonic(), str([tp.error for tp in result
                                                                  if tp.error is not None])))
                return
            if offsets:
                time.sleep(0.2)

    def _make(self):
        consumer = Consumer({
            "bootstrap.servers": self.bootstrap, "group.id": self.group,
            "enable.auto.commit": False, "auto.offset.reset": "earliest",
            "enable.partition.eof": False, "fetch.wait.max.ms": 100,
            "session.timeout.ms": 10000, "heartbeat.interval.ms": 1000,
            "max.poll.interval.ms": 30000,
            "topic.metadata.refresh.interval.ms": 1000, "reconnect.backoff.max.ms": 500,
            "log_level": 4, "logger": self.logger})
        consumer.subscribe([self.topic], on_assign=self._on_assign, on_revoke=self._on_revoke,
                           on_lost=self._on_lost)
        self.joins += 1
        self.history.append((time.monotonic(), self.generation, "joined", []))
        return consumer

    def _consume(self, consumer, timeout):
        """One consume(): journals what it returns; serves the rebalance
        callbacks due (a member dropped from the group loses its partitions
        here: on_lost)."""
        for m in consumer.consume(500, timeout):
            if m.error() is not None:
                if not m.error().retriable() and m.error().code() >= 0:
                    self.errors.append(str(m.error()))
                continue
            self.polls.append((self.generation, m.partition(), m.offset(), m.value().decode(),
                               time.monotonic()))
            self.last[m.partition()] = m.offset()

    def _leave(self, consumer):
        self._consume(consumer, 0.1)  # callbacks due first: commit only what is still held
        self._commit(consumer)
        consumer.close()  # on_revoke (another commit), then LeaveGroup
        if self.assigned:
            self.assigned = set()
            self._bump({}, "closed")

    def _run(self):
        consumer = self._make()
        commit_at = time.monotonic() + self.rng.uniform(*self.COMMIT_EVERY)
        rejoin_at = time.monotonic() + self.rng.uniform(*self.REJOIN_EVERY)
        try:
            # Bounded: until stop().
            while not self.stop.is_set():
                self._consume(consumer, 0.2)
                now = time.monotonic()
                if now >= commit_at:
                    self._commit(consumer)
                    commit_at = now + self.rng.uniform(*self.COMMIT_EVERY)
                if now >= rejoin_at:
                    self._leave(consumer)
                    consumer = None
                    self.stop.wait(self.rng.uniform(0.5, 2.0))
                    consumer = self._make()
                    rejoin_at = time.monotonic() + self.rng.uniform(*self.REJOIN_EVERY)
        finally:
            if consumer is not None:
                self._leave(consumer)


def committed(bootstrap, group, topic, partitions, timeout=30.0):
    """{partition: the group's committed offset (None: none)}, read with
    OffsetFetch by a consumer that does not join; retriable answers retried."""
    c = Consumer(quiet({"bootstrap.servers": bootstrap, "group.id": group,
                        "enable.auto.commit": False}))
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                got = c.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=10)
                return {tp.partition: (tp.offset if tp.offset >= 0 else None) for tp in got}
            except KafkaException as e:
                if not e.args[0].retriable() or time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
    finally:
        c.close()


# The consumer-kind table: kind -> class(idx, bootstrap, topic, partitions, rng).
CONSUMER_KINDS = {"assign": AssignConsumer, "subscribe": SubscribeConsumer}


def final_read(bootstrap, topic, partitions, high_watermarks, timeout=60.0):
    """Every record of every partition from offset 0 to its high watermark:
    ({partition: {offset: value}}, the partitions not read to the end,
    [(partition, offset, value, other value)] read twice differently)."""
    consumer = Consumer(quiet({
        "bootstrap.servers": bootstrap, "group.id": "chaos-final", "enable.auto.commit": False,
        "auto.offset.reset": "earliest", "enable.partition.eof": True}))
    seen = {p: {} for p in range(partitions)}
    conflicts = []
    done = {p for p in range(partitions) if high_watermarks[p] <= 0}
    consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    deadline = time.monotonic() + timeout
    try:
        while len(done) < partitions and time.monotonic() < deadline:
            for m in consumer.consume(1000, 0.5):
                p = m.partition()
                if m.error() is not None:
                    # EOF: the end of what the leader has (the high watermark);
                    # empty batches (no-ops) at the end leave no record to see.
                    if (m.error().code() == KafkaError._PARTITION_EOF
                            and m.offset() >= high_watermarks[p]):
                        done.add(p)
                    continue
                value = m.value().decode()
                if m.offset() in seen[p] and seen[p][m.offset()] != value:
                    conflicts.append((p, m.offset(), value, seen[p][m.offset()]))
                seen[p][m.offset()] = value
                if m.offset() + 1 >= high_watermarks[p]:
                    done.add(p)
    finally:
        consumer.close()
    return seen, sorted(set(range(partitions)) - done), conflicts
