"""Group consumer driver for the compat tests (run with Debian's /usr/bin/python3).

usage:
  group_consume.py kafka-python | confluent     prints {"values": [...]}

Environment: BOOTSTRAP (host:port), TOPIC, GROUP, EXPECT (records to read),
TIMEOUT_S (overall deadline).

Subscribes to TOPIC in consumer group GROUP (earliest offset when the group
has none committed), reads until EXPECT records arrived, commits
synchronously, leaves the group and prints the values in the order read.
"""

import json
import os
import sys
import time

BOOTSTRAP = os.environ["BOOTSTRAP"]
TOPIC = os.environ["TOPIC"]
GROUP = os.environ["GROUP"]
EXPECT = int(os.environ["EXPECT"])
TIMEOUT_S = float(os.environ.get("TIMEOUT_S", "45"))


def kafka_python():
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(
        TOPIC,
        bootstrap_servers=BOOTSTRAP,
        group_id=GROUP,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        client_id="cairn-compat-kafka-python-group",
        request_timeout_ms=30000,
        session_timeout_ms=10000,
    )
    values = []
    deadline = time.monotonic() + TIMEOUT_S
    while len(values) < EXPECT:
        if time.monotonic() > deadline:
            sys.exit("timed out with %d of %d records" % (len(values), EXPECT))
        for _, msgs in consumer.poll(timeout_ms=200).items():
            values.extend(m.value.decode() for m in msgs)
    consumer.commit()
    consumer.close()
    return values


def confluent():
    from confluent_kafka import Consumer

    consumer = Consumer(
        {
            "bootstrap.servers": BOOTSTRAP,
            "group.id": GROUP,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "client.id": "cairn-compat-confluent-group",
            "session.timeout.ms": 10000,
        }
    )
    consumer.subscribe([TOPIC])
    values = []
    deadline = time.monotonic() + TIMEOUT_S
    while len(values) < EXPECT:
        if time.monotonic() > deadline:
            sys.exit("timed out with %d of %d records" % (len(values), EXPECT))
        m = consumer.poll(0.2)
        if m is None:
            continue
        if m.error():
            sys.exit("consume error: %s" % m.error())
        values.append(m.value().decode())
    consumer.commit(asynchronous=False)
    consumer.close()
    return values


if __name__ == "__main__":
    client = {"kafka-python": kafka_python, "confluent": confluent}[sys.argv[1]]
    json.dump({"values": client()}, sys.stdout)
