// kafkajs driver for cairn's compat tests: produces the JSON records on stdin
// ({key, value, headers: [{key, value}]}) to TOPIC at BOOTSTRAP with acks -1
// and kafkajs's default partitioner, BATCH records per producer.send() call,
// in order. Prints {"sends": [{first, count, results: [{partition,
// baseOffset}]}]}: kafkajs reports one base offset per partition per send,
// not per record, so the test maps records to offsets from what it reads back.
//
// Only producing: kafkajs's consumer always joins a consumer group, which the
// broker does not offer yet.
'use strict'

const { Kafka, logLevel } = require('kafkajs')

// kafkajs logs through console.log by default; stdout carries the result.
const toStderr = () => ({ namespace, level, log }) => {
  const { message, ...extra } = log
  process.stderr.write(`kafkajs ${level} ${namespace}: ${message} ${JSON.stringify(extra)}\n`)
}

async function main () {
  const bootstrap = process.env.BOOTSTRAP
  const topic = process.env.TOPIC
  const batch = Number(process.env.BATCH || '50')
  const records = JSON.parse(require('fs').readFileSync(0, 'utf8'))

  const kafka = new Kafka({
    clientId: 'cairn-compat-kafkajs',
    brokers: [bootstrap],
    logLevel: logLevel.WARN,
    logCreator: toStderr,
    connectionTimeout: 10000,
    requestTimeout: 20000,
    retry: { retries: Number(process.env.RETRIES || '5') }
  })
  // IDEMPOTENT=1: kafkajs's idempotent producer (it allows one request in
  // flight); PAUSE_MS: a pause after each send.
  const idempotent = Boolean(process.env.IDEMPOTENT)
  const pauseMs = Number(process.env.PAUSE_MS || '0')
  const producer = kafka.producer(idempotent
    ? { allowAutoTopicCreation: false, idempotent: true, maxInFlightRequests: 1 }
    : { allowAutoTopicCreation: false })
  await producer.connect()
  const sends = []
  try {
    for (let first = 0; first < records.length; first += batch) {
      const chunk = records.slice(first, first + batch)
      const results = await producer.send({
        topic,
        acks: -1,
        messages: chunk.map(r => ({
          key: r.key,
          value: r.value,
          headers: Object.fromEntries(r.headers.map(h => [h.key, h.value]))
        }))
      })
      if (pauseMs > 0) await new Promise(resolve => setTimeout(resolve, pauseMs))
      sends.push({
        first,
        count: chunk.length,
        results: results.map(m => {
          if (m.errorCode !== 0) throw new Error(`partition ${m.partition}: error code ${m.errorCode}`)
          return { partition: m.partition, baseOffset: Number(m.baseOffset) }
        })
      })
    }
  } finally {
    await producer.disconnect()
  }
  process.stdout.write(JSON.stringify({ sends }))
}

main().catch(err => {
  process.stderr.write(`kafkajs produce failed: ${err.stack || err}\n`)
  process.exit(1)
})
