"""confluent-kafka-python (librdkafka) driver for the compat tests (run with
Debian's /usr/bin/python3).

usage:
  confluent_client.py produce   < records.json   prints {"acks": [...]}
  confluent_client.py consume                    prints {"records": [...]}

Environment: BOOTSTRAP (host:port), TOPIC, TIMEOUT_S (overall deadline), and
for produce optionally PARTITIONER (a librdkafka partitioner name; the
default is librdkafka's own, consistent_random), IDEMPOTENT (any value:
enable.idempotence=true) and PACE_S (seconds to sleep after each record).

produce sends the JSON records on stdin ({"key", "value", "headers": [{"key",
"value"}]}) in order with acks=all, then prints where each was stored, in
input order.

consume reads every partition of TOPIC from the beginning up to the high
watermarks seen at the start. It uses assign() with OFFSET_BEGINNING and never
subscribe(): the broker has no consumer groups. librdkafka insists on a
group.id for any consumer, so one is set, with offset commits disabled.
"""

import json
import os
import sys
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Producer, TopicPartition

BOOTSTRAP = os.environ["BOOTSTRAP"]
TOPIC = os.environ["TOPIC"]
TIMEOUT_S = float(os.environ.get("TIMEOUT_S", "45"))


def produce():
    records = json.load(sys.stdin)
    conf = {
        "bootstrap.servers": BOOTSTRAP,
        "client.id": "cairn-compat-confluent",
        "acks": "all",
        "linger.ms": 5,
        "message.timeout.ms": int(TIMEOUT_S * 1000),
    }
    if os.environ.get("PARTITIONER"):
        conf["partitioner"] = os.environ["PARTITIONER"]
    if os.environ.get("IDEMPOTENT"):
        conf["enable.idempotence"] = True
    pace = float(os.environ.get("PACE_S", "0"))
    producer = Producer(conf)
    acks = [None] * len(records)
    errors = []

    def on_delivery(i):
        def cb(err, msg):
            if err is not None:
                errors.append("record %d: %s" % (i, err))
            else:
                acks[i] = {"partition": msg.partition(), "offset": msg.offset()}

        return cb

    for i, r in enumerate(records):
        headers = [(h["key"], h["value"].encode()) for h in r["headers"]]
        producer.produce(TOPIC, key=r["key"].encode(), value=r["value"].encode(), headers=headers, on_delivery=on_delivery(i))
        producer.poll(0)
        if pace:
            time.sleep(pace)
    left = producer.flush(TIMEOUT_S)
    if left or errors:
        sys.exit("%d records undelivered; errors: %s" % (left, errors[:10]))
    json.dump({"acks": acks}, sys.stdout)


def consume():
    deadline = time.monotonic() + TIMEOUT_S
    consumer = Consumer(
        {
            "bootstrap.servers": BOOTSTRAP,
            "client.id": "cairn-compat-confluent",
            "group.id": "cairn-compat-unused",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
        }
    )
    md = consumer.list_topics(TOPIC, timeout=20)
    topic = md.topics.get(TOPIC)
    if topic is None or topic.error is not None:
        sys.exit("no metadata for topic %s: %s" % (TOPIC, topic and topic.error))
    partitions = sorted(topic.partitions)
    end = {}
    for p in partitions:
        _, high = consumer.get_watermark_offsets(TopicPartition(TOPIC, p), timeout=20)
        end[p] = high
    consumer.assign([TopicPartition(TOPIC, p, OFFSET_BEGINNING) for p in partitions])
    next_offset = {p: 0 for p in partitions}
    out = []
    while any(next_offset[p] < end[p] for p in partitions):
        if time.monotonic() > deadline:
            sys.exit("timed out: next offsets %s, high watermarks %s" % (next_offset, end))
        m = consumer.poll(0.2)
        if m is None:
            continue
        if m.error() is not None:
            if m.error().fatal():
                raise KafkaException(m.error())
            print("consumer error (non-fatal): %s" % m.error(), file=sys.stderr)
            continue
        out.append(
            {
                "partition": m.partition(),
                "offset": m.offset(),
                "key": m.key().decode() if m.key() is not None else None,
                "value": m.value().decode() if m.value() is not None else None,
                "headers": [{"key": k, "value": v.decode()} for k, v in (m.headers() or [])],
            }
        )
        next_offset[m.partition()] = m.offset() + 1
    consumer.close()
    json.dump({"records": out}, sys.stdout)


if __name__ == "__main__":
    {"produce": produce, "consume": consume}[sys.argv[1]]()
