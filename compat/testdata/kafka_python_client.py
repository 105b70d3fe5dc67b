"""kafka-python driver for the compat tests (run with Debian's /usr/bin/python3).

usage:
  kafka_python_client.py produce   < records.json   prints {"acks": [...]}
  kafka_python_client.py consume                    prints {"records": [...]}

Environment: BOOTSTRAP (host:port), TOPIC, TIMEOUT_S (overall deadline).

produce sends the JSON records on stdin ({"key", "value", "headers": [{"key",
"value"}]}) in order with acks='all' and the default (murmur2) partitioner,
then prints where each was stored, in input order.

consume reads every partition of TOPIC from the beginning, without a
consumer group (assign + seek_to_beginning), up to the end offsets seen at
the start, and prints the records in the order the consumer returned them.
"""

import json
import os
import sys
import time

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

BOOTSTRAP = os.environ["BOOTSTRAP"]
TOPIC = os.environ["TOPIC"]
TIMEOUT_S = float(os.environ.get("TIMEOUT_S", "45"))


def produce():
    records = json.load(sys.stdin)
    producer = KafkaProducer(
        bootstrap_servers=BOOTSTRAP,
        acks="all",
        client_id="cairn-compat-kafka-python",
        request_timeout_ms=20000,
    )
    futures = []
    for r in records:
        headers = [(h["key"], h["value"].encode()) for h in r["headers"]]
        futures.append(
            producer.send(TOPIC, key=r["key"].encode(), value=r["value"].encode(), headers=headers)
        )
    producer.flush(timeout=TIMEOUT_S)
    acks = []
    for f in futures:
        md = f.get(timeout=TIMEOUT_S)
        acks.append({"partition": md.partition, "offset": md.offset})
    producer.close(timeout=10)
    json.dump({"acks": acks}, sys.stdout)


def consume():
    deadline = time.monotonic() + TIMEOUT_S
    consumer = KafkaConsumer(
        bootstrap_servers=BOOTSTRAP,
        group_id=None,
        enable_auto_commit=False,
        client_id="cairn-compat-kafka-python",
        request_timeout_ms=20000,
    )
    partitions = None
    while partitions is None and time.monotonic() < deadline:
        partitions = consumer.partitions_for_topic(TOPIC)
        if partitions is None:
            time.sleep(0.1)
    if partitions is None:
        sys.exit("no metadata for topic %s" % TOPIC)
    tps = [TopicPartition(TOPIC, p) for p in sorted(partitions)]
    consumer.assign(tps)
    consumer.seek_to_beginning(*tps)
    end = consumer.end_offsets(tps)
    out = []
    while any(consumer.position(tp) < end[tp] for tp in tps):
        if time.monotonic() > deadline:
            sys.exit(
                "timed out: positions %s, end offsets %s"
                % ({tp.partition: consumer.position(tp) for tp in tps}, {tp.partition: o for tp, o in end.items()})
            )
        for tp, msgs in consumer.poll(timeout_ms=200).items():
            for m in msgs:
                out.append(
                    {
                        "partition": m.partition,
                        "offset": m.offset,
                        "key": m.key.decode() if m.key is not None else None,
                        "value": m.value.decode() if m.value is not None else None,
                        "headers": [{"key": k, "value": v.decode()} for k, v in m.headers],
                    }
                )
    consumer.close(autocommit=False)
    json.dump({"records": out}, sys.stdout)


if __name__ == "__main__":
    {"produce": produce, "consume": consume}[sys.argv[1]]()
